-- gatehouse: the upstream side of auth_query (run once as a superuser).
--
-- gatehouse reads each connecting role's secret through a dedicated login that
-- can do nothing else: it calls one SECURITY DEFINER function, owned by a
-- superuser, that returns the stored secret, LOGIN and VALID UNTIL of exactly
-- the role asked for. gatehouse refuses roles without LOGIN or past VALID UNTIL
-- (PgBouncer's plain auth_query does not look at either).
--
-- Give gatehouse_auth a password (ALTER ROLE gatehouse_auth PASSWORD '...')
-- when the upstream asks it for one, and point [auth] auth_password_file at it.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'gatehouse_auth') THEN
    CREATE ROLE gatehouse_auth LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS gatehouse;
REVOKE ALL ON SCHEMA gatehouse FROM PUBLIC;
GRANT USAGE ON SCHEMA gatehouse TO gatehouse_auth;

CREATE OR REPLACE FUNCTION gatehouse.get_auth(p_role text)
RETURNS TABLE (passwd text, canlogin boolean, valid_until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT rolpassword::text, rolcanlogin, rolvaliduntil
  FROM pg_catalog.pg_authid
  WHERE rolname = p_role
$$;

REVOKE ALL ON FUNCTION gatehouse.get_auth(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gatehouse.get_auth(text) TO gatehouse_auth;
