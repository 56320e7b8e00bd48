//! Every validation error, with the exact text the operator sees.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use gatehouse_netacl::*;

#[test]
fn port_out_of_range_names_rule_and_field() {
    let s = db_with(vec![tcp(
        "sgr-0abc",
        "sg-db",
        5432,
        70000,
        cidr("10.0.0.0/8"),
    )]);
    assert_eq!(
        errors(&s),
        ["sgr-0abc: to_port 70000 is out of range 0-65535"]
    );
    let s = db_with(vec![tcp("sgr-0abc", "sg-db", -1, 10, cidr("10.0.0.0/8"))]);
    assert_eq!(
        errors(&s),
        ["sgr-0abc: from_port -1 is out of range 0-65535"]
    );
}

#[test]
fn both_ports_out_of_range_gives_two_errors_and_no_order_error() {
    let s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        70001,
        70000,
        cidr("10.0.0.0/8"),
    )]);
    assert_eq!(
        errors(&s),
        [
            "sgr-1: from_port 70001 is out of range 0-65535",
            "sgr-1: to_port 70000 is out of range 0-65535"
        ]
    );
}

#[test]
fn port_range_reversed() {
    let s = db_with(vec![tcp("sgr-1", "sg-db", 6000, 5999, cidr("10.0.0.0/8"))]);
    assert_eq!(
        errors(&s),
        ["sgr-1: from_port 6000 is greater than to_port 5999"]
    );
    let s = db_with(vec![tcp("sgr-1", "sg-db", 0, 65535, cidr("10.0.0.0/8"))]);
    assert!(s.validate().is_ok());
}

#[test]
fn all_protocol_ignores_ports() {
    let mut r = tcp("sgr-1", "sg-db", 70000, -5, cidr("10.0.0.0/8"));
    r.protocol = Protocol::All;
    assert!(db_with(vec![r]).validate().is_ok());
}

#[test]
fn cidr_with_host_bits_is_rejected_like_aws() {
    let s = db_with(vec![tcp("sgr-1", "sg-db", 1, 2, cidr("10.0.0.1/8"))]);
    assert_eq!(
        errors(&s),
        ["sgr-1: source 10.0.0.1/8 is not a network address (did you mean 10.0.0.0/8?)"]
    );
    let s = db_with(vec![tcp("sgr-1", "sg-db", 1, 2, cidr("2001:db8::1/32"))]);
    assert_eq!(
        errors(&s),
        ["sgr-1: source 2001:db8::1/32 is not a network address (did you mean 2001:db8::/32?)"]
    );
    // Host routes and /0 are fine.
    let s = db_with(vec![
        tcp("sgr-1", "sg-db", 1, 2, cidr("10.0.0.1/32")),
        tcp("sgr-2", "sg-db", 1, 2, cidr("0.0.0.0/0")),
        tcp("sgr-3", "sg-db", 1, 2, cidr("::/0")),
    ]);
    assert!(s.validate().is_ok());
}

#[test]
fn mapped_ipv6_cidr_is_rejected() {
    let s = db_with(vec![tcp(
        "sgr-1",
        "sg-db",
        1,
        2,
        cidr("::ffff:10.0.0.0/104"),
    )]);
    let e = errors(&s);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("sgr-1: source ::ffff:10.0.0.0/104 is an IPv4-mapped"),
        "{e:?}"
    );
    // A shorter block that merely contains the mapped range is allowed.
    let s = db_with(vec![tcp("sgr-1", "sg-db", 1, 2, cidr("::/64"))]);
    assert!(s.validate().is_ok());
}

#[test]
fn rule_description_length_and_charset() {
    let mut r = tcp("sgr-1", "sg-db", 1, 2, cidr("10.0.0.0/8"));
    r.description = Some("a".repeat(255));
    assert!(db_with(vec![r.clone()]).validate().is_ok());
    r.description = Some("Office VPN (ops) #2: a-z/[x]+=&;{y}!$*@,".to_owned());
    assert!(db_with(vec![r.clone()]).validate().is_ok());
    r.description = Some("é".repeat(256));
    assert_eq!(
        errors(&db_with(vec![r.clone()])),
        [
            "sgr-1: description is 256 characters long, at most 255 are allowed",
            "sgr-1: description contains 'é'; allowed are a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*"
        ]
    );
    r.description = Some("<script>".to_owned());
    assert_eq!(errors(&db_with(vec![r]))[0], "sgr-1: description contains '<'; allowed are a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*");
}

#[test]
fn group_name_rules() {
    let mut g = group("sg-db");
    g.name = String::new();
    assert_eq!(g.validate()[0].to_string(), "sg-db: name must not be empty");
    g.name = "sg-mine".to_owned();
    assert_eq!(
        g.validate()[0].to_string(),
        "sg-db: name \"sg-mine\" must not start with \"sg-\""
    );
    g.name = "x".repeat(256);
    assert_eq!(
        g.validate()[0].to_string(),
        "sg-db: name is 256 characters long, at most 255 are allowed"
    );
    g.name = "db\ttier".to_owned();
    assert!(g.validate()[0]
        .to_string()
        .starts_with("sg-db: name contains '\\t'"));
    g.name = "db".to_owned();
    g.description = "tab\there".to_owned();
    assert!(g.validate()[0]
        .to_string()
        .starts_with("sg-db: description contains '\\t'"));
}

#[test]
fn duplicate_group_ids_and_names() {
    let mut other = group("sg-app");
    other.name = "name of sg-db".to_owned();
    let s = Snapshot {
        groups: vec![group("sg-db"), group("sg-db"), other],
        ..Snapshot::default()
    };
    assert_eq!(
        errors(&s),
        [
            "sg-db: duplicate security group id",
            "sg-app: name \"name of sg-db\" is already used by sg-db"
        ]
    );
}

#[test]
fn duplicate_rule_ids() {
    let s = db_with(vec![
        tcp("sgr-1", "sg-db", 1, 2, cidr("10.0.0.0/8")),
        tcp("sgr-1", "sg-db", 3, 4, cidr("10.0.0.0/8")),
    ]);
    assert_eq!(errors(&s), ["sgr-1: duplicate security group rule id"]);
}

#[test]
fn unknown_references() {
    let mut s = db_with(vec![
        tcp("sgr-1", "sg-nope", 1, 2, cidr("10.0.0.0/8")),
        tcp("sgr-2", "sg-db", 1, 2, Source::Group(gid("sg-gone"))),
        tcp("sgr-3", "sg-db", 1, 2, Source::PrefixList(plid("pl-gone"))),
    ]);
    s.members.push(member("sg-ghost", "10.0.0.1", None));
    assert_eq!(
        errors(&s),
        [
            "sgr-1: group_id refers to unknown security group sg-nope",
            "sgr-2: source refers to unknown security group sg-gone",
            "sgr-3: source refers to unknown prefix list pl-gone",
            "member 10.0.0.1 of sg-ghost: group_id refers to unknown security group sg-ghost"
        ]
    );
}

#[test]
fn prefix_list_over_max_size() {
    let mut s = db_with(vec![]);
    s.prefix_lists.push(prefix_list(
        "pl-office",
        2,
        &["10.0.0.0/8", "10.1.0.0/16", "::/0"],
    ));
    assert_eq!(
        errors(&s),
        ["pl-office: entries has 3 entries, more than max_entries 2"]
    );
    s.prefix_lists[0].max_entries = 3;
    assert!(s.validate().is_ok());
}

#[test]
fn prefix_list_field_errors() {
    let mut pl = prefix_list("pl-x", 0, &[]);
    assert_eq!(
        pl.validate()[0].to_string(),
        "pl-x: max_entries must be at least 1"
    );
    pl = prefix_list("pl-x", 5, &["10.0.0.0/8", "10.0.0.0/8", "10.0.0.1/24"]);
    pl.name = "com.amazonaws.global.cloudfront".to_owned();
    let msgs: Vec<String> = pl.validate().iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "pl-x: name \"com.amazonaws.global.cloudfront\" must not start with \"com.amazonaws\"",
            "pl-x: entries lists 10.0.0.0/8 more than once",
            "pl-x: entries 10.0.0.1/24 is not a network address (did you mean 10.0.0.0/24?)"
        ]
    );
    pl = prefix_list("pl-x", 5, &["10.0.0.0/8"]);
    pl.name.clear();
    pl.entries[0].description = Some("d".repeat(256));
    let msgs: Vec<String> = pl.validate().iter().map(ToString::to_string).collect();
    assert_eq!(
        msgs,
        [
            "pl-x: name must not be empty",
            "pl-x: entries.description is 256 characters long, at most 255 are allowed"
        ]
    );
}

#[test]
fn duplicate_prefix_list_ids() {
    let mut s = db_with(vec![]);
    s.prefix_lists.push(prefix_list("pl-x", 1, &[]));
    s.prefix_lists.push(prefix_list("pl-x", 1, &[]));
    assert_eq!(errors(&s), ["pl-x: duplicate prefix list id"]);
}

#[test]
fn listener_needs_known_groups() {
    let s = db_with(vec![]);
    let e = Acl::compile(&s, 6432, &[], NOW).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "listener port 6432: no security group attached; attach one or set network = \"open\""
    );
    let e = Acl::compile(&s, 6432, &[gid("sg-db"), gid("sg-x"), gid("sg-x")], NOW).unwrap_err();
    assert_eq!(
        e.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["listener port 6432: attached security group sg-x does not exist"]
    );
}

#[test]
fn compile_reports_all_errors_together() {
    let s = db_with(vec![
        tcp("sgr-1", "sg-db", 1, 70000, cidr("10.0.0.1/8")),
        tcp("sgr-1", "sg-db", 5, 4, cidr("10.0.0.0/8")),
    ]);
    let e = Acl::compile(&s, 6432, &[gid("sg-db"), gid("sg-y")], NOW).unwrap_err();
    assert_eq!(e.len(), 5, "{e:?}");
    assert!(matches!(e[4], ValidationError::UnknownAttachedGroup { .. }));
}

#[test]
fn protocol_forms() {
    assert_eq!("tcp".parse::<Protocol>().unwrap(), Protocol::Tcp);
    assert_eq!("TCP".parse::<Protocol>().unwrap(), Protocol::Tcp);
    assert_eq!("6".parse::<Protocol>().unwrap(), Protocol::Tcp);
    assert_eq!("-1".parse::<Protocol>().unwrap(), Protocol::All);
    assert_eq!("all".parse::<Protocol>().unwrap(), Protocol::All);
    assert_eq!(
        "udp".parse::<Protocol>().unwrap_err().to_string(),
        "unsupported protocol \"udp\": gatehouse accepts tcp (6) or -1 (all)"
    );
    assert_eq!(
        serde_json::from_str::<Protocol>("-1").unwrap(),
        Protocol::All
    );
    assert_eq!(
        serde_json::from_str::<Protocol>("6").unwrap(),
        Protocol::Tcp
    );
    assert!(serde_json::from_str::<Protocol>("17").is_err());
    assert_eq!(serde_json::to_string(&Protocol::All).unwrap(), "\"-1\"");
}

#[test]
fn snapshot_toml_round_trip_and_strictness() {
    let text = r#"
        [[groups]]
        id = "sg-db"
        name = "db"
        enforce_on_existing = true
        [[groups]]
        id = "sg-app"
        name = "app"
        [[prefix_lists]]
        id = "pl-office"
        name = "office"
        max_entries = 10
        entries = [{ cidr = "198.51.100.0/24", description = "HQ" }, { cidr = "2001:db8::/32" }]
        [[rules]]
        id = "sgr-a"
        group_id = "sg-db"
        protocol = "tcp"
        from_port = 6432
        to_port = 6432
        source = { group = "sg-app" }
        [[rules]]
        id = "sgr-b"
        group_id = "sg-db"
        protocol = "-1"
        source = { prefix_list = "pl-office" }
        description = "office"
        expires_at = 1700003600
        [[members]]
        group_id = "sg-app"
        address = "10.0.3.7"
    "#;
    let s: Snapshot = toml::from_str(text).unwrap();
    assert!(s.validate().is_ok());
    assert!(s.groups[0].enforce_on_existing);
    assert_eq!(s.rules[1].from_port, -1);
    assert_eq!(s.rules[1].expires_at, Some(Timestamp(1_700_003_600)));
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), s);
    assert!(toml::from_str::<Snapshot>("[[groups]]\nid = \"db\"\nname = \"x\"\n").is_err());
    assert!(toml::from_str::<Snapshot>(
        "[[groups]]\nid = \"sg-db\"\nname = \"x\"\ncolour = \"red\"\n"
    )
    .is_err());
}
