"""Vector stores behind one protocol: Milvus (Lite or server) and pgvector."""
