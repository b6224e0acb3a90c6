"""The tasks resource: schemas, keyset pagination, data access and routes."""
