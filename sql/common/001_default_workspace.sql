-- Seed data run by `migctl init` after the schema is at head. Idempotent: safe to run again.
INSERT INTO workspaces (name, settings)
VALUES ('default', '{"retention_days": 90}'::jsonb)
ON CONFLICT (name) DO NOTHING;
