-- gatehouse quickstart: the example shop and the teams that use it.
--
-- `gatehouse quickstart` runs this file once, with psql, as the superuser `postgres`
-- over the throwaway cluster's Unix socket, after docs/upstream-setup.sql. It sets the
-- people's passwords from psql variables so that none is written here:
--
--   psql -X -v ON_ERROR_STOP=1 -v alice_password=… -v bob_password=… \
--        -v carol_password=… -h SOCKET_DIR -U postgres -d postgres -f seed.sql
--
-- Teams are group roles (NOLOGIN); people and applications are login roles in them:
--
--   admin       all privileges on the schema: owns it and every table in it   alice
--   developers  read and write every table (and use the sequences)           bob, app_user
--   support     read orders and order_items, nothing else                    carol
--   rds_iam     log in only with an IAM auth token (as on Amazon RDS)       app_user

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET password_encryption = 'scram-sha-256';

-- Teams.
CREATE ROLE admin NOLOGIN;
CREATE ROLE developers NOLOGIN;
CREATE ROLE support NOLOGIN;
-- gatehouse's [iam] token_only_role: members may log in with a token only.
CREATE ROLE rds_iam NOLOGIN;

-- People: a SCRAM-SHA-256 password each (stored as a SCRAM secret, never in clear).
CREATE ROLE alice LOGIN PASSWORD :'alice_password' IN ROLE admin;
CREATE ROLE bob LOGIN PASSWORD :'bob_password' IN ROLE developers;
CREATE ROLE carol LOGIN PASSWORD :'carol_password' IN ROLE support;

-- The application: no password at all; it logs in with an IAM auth token.
CREATE ROLE app_user LOGIN IN ROLE developers, rds_iam;

CREATE DATABASE shop OWNER admin;
REVOKE ALL ON DATABASE shop FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE shop TO admin, developers, support;

\connect shop
SET client_min_messages = warning;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA shop AUTHORIZATION admin;
ALTER DATABASE shop SET search_path = shop;

-- Everything below is created by admin, so admin owns it.
SET ROLE admin;
SET search_path = shop;

CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(10, 2) NOT NULL CHECK (price >= 0)
);

CREATE TABLE orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    status      text NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
    ordered_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES products,
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

INSERT INTO customers (name, email) VALUES
    ('Ada Lovelace', 'ada@example.com'),
    ('Grace Hopper', 'grace@example.com'),
    ('Edsger Dijkstra', 'edsger@example.com');

INSERT INTO products (sku, name, price) VALUES
    ('MUG-01', 'Coffee mug', 9.50),
    ('TEE-02', 'T-shirt', 19.00),
    ('BAG-03', 'Tote bag', 12.25),
    ('CAP-04', 'Cap', 15.00);

INSERT INTO orders (customer_id, status) VALUES
    (1, 'shipped'),
    (2, 'paid'),
    (3, 'new');

INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES
    (1, 1, 2, 9.50),
    (1, 3, 1, 12.25),
    (2, 2, 3, 19.00),
    (3, 4, 1, 15.00),
    (3, 1, 1, 9.50);

-- developers: read and write every table, now and later (tables admin creates).
GRANT USAGE ON SCHEMA shop TO developers, support;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shop TO developers;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA shop TO developers;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO developers;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop
    GRANT USAGE, SELECT ON SEQUENCES TO developers;

-- support: read orders and their items; customers and products stay out of reach.
GRANT SELECT ON orders, order_items TO support;

RESET ROLE;
