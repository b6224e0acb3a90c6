"""Todo API: FastAPI + SQLModel on PostgreSQL, authenticated by Better Auth JWTs."""
