"""Authentication: Better Auth JWTs verified by JWKS, by a shared secret, or (dev mode) by a local key."""
