-- API keys of the REST API. Only the sha256 of a key is stored, never the key itself.
-- rate_limit: requests per rate-limit window for this key (NULL: the server's default).
CREATE SEQUENCE api_key_id_seq START 1;
CREATE TABLE api_keys (
    key_id BIGINT PRIMARY KEY DEFAULT nextval('api_key_id_seq'),
    name VARCHAR NOT NULL,
    scope VARCHAR NOT NULL CHECK (scope IN ('read', 'admin')),
    key_hash VARCHAR NOT NULL UNIQUE,
    rate_limit INTEGER CHECK (rate_limit IS NULL OR rate_limit > 0),
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
