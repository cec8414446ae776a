"""Vector collections in Milvus or pgvector: templates, migrations, stores."""
