//! "What was expected" for load errors: PostgreSQL's messages say what is wrong;
//! these hints add what would have been right.

const METHODS: &str = "expected a method: trust, reject, scram-sha-256, md5, password, peer, ident, cert, gss, sspi, ldap, radius, pam, bsd, oauth (18) or gatehouse's iam";

/// A hint for a PostgreSQL load-error message, when one helps.
pub fn hint_for(message: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = &[
        (
            "invalid connection type",
            "expected local, host, hostssl, hostnossl, hostgssenc or hostnogssenc",
        ),
        (
            "end-of-line before database",
            "expected a database: all, sameuser, samerole, replication, a name, @file or /regex",
        ),
        (
            "end-of-line before role",
            "expected a user: all, a name, +group, @file or /regex",
        ),
        (
            "end-of-line before IP address",
            "expected an address: CIDR (10.0.0.0/8), all, samehost, samenet or a host name",
        ),
        (
            "end-of-line before netmask",
            "expected a netmask column (255.255.255.0), or write the address in CIDR form",
        ),
        ("end-of-line before authentication method", METHODS),
        ("invalid authentication method", METHODS),
        (
            "invalid CIDR mask",
            "expected a prefix length of 0-32 for IPv4 or 0-128 for IPv6",
        ),
        (
            "specifying both host name and CIDR mask",
            "expected a numeric address before the '/', or a host name without a mask",
        ),
        (
            "invalid IP mask",
            "expected a numeric netmask such as 255.255.255.0",
        ),
        (
            "IP address and mask do not match",
            "expected address and netmask of the same family (both IPv4 or both IPv6)",
        ),
        (
            "authentication option not in name=value format",
            "expected name=value; quote values that contain blanks, commas or #",
        ),
        (
            "unrecognized authentication option name",
            "a comma or blank inside an unquoted value splits it into two options; quote the value",
        ),
        (
            "is only valid for authentication methods",
            "remove the option or change the method",
        ),
        (
            "peer authentication is only supported on local sockets",
            "use peer on local lines; for TCP use ident, scram-sha-256 or cert",
        ),
        (
            "cert authentication is only supported on hostssl",
            "use a hostssl line for cert",
        ),
        (
            "clientcert can only be configured for \"hostssl\"",
            "use a hostssl line",
        ),
        (
            "cannot mix options for simple bind and search+bind",
            "use ldapprefix/ldapsuffix (simple bind) or ldapbasedn with search options, not both",
        ),
        (
            "contains no entries",
            "expected at least one rule; PostgreSQL refuses an empty pg_hba.conf",
        ),
        (
            "multiple values specified",
            "expected a single value in this column",
        ),
        (
            "maximum nesting depth exceeded",
            "includes and @files nest at most 10 levels deep; one probably refers back to itself",
        ),
    ];
    table
        .iter()
        .find(|(prefix, _)| message.contains(prefix))
        .map(|(_, hint)| *hint)
}
