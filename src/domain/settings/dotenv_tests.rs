use super::*;
use crate::ids::SettingId;

fn d(value: &str, value_type: ValueType, secret: bool) -> Desired {
    Desired {
        value: Zeroizing::new(value.into()),
        value_type,
        secret,
        category: None,
        description: None,
    }
}

fn values(text: &str) -> Vec<(String, String)> {
    parse(text, "f.env")
        .unwrap_or_else(|e| panic!("{e}"))
        .entries
        .into_iter()
        .map(|e| (e.key, e.want.value.to_string()))
        .collect()
}

fn err(text: &str) -> String {
    let e = parse(text, "f.env").expect_err("refused");
    assert_eq!(e.exit_code(), 2, "{e}");
    e.to_string()
}

#[test]
fn detection() {
    assert!(is_dotenv("A=1"));
    assert!(is_dotenv("\u{feff}# c\n\nexport\tA_1='x'\n"));
    assert!(is_dotenv("_x="));
    assert!(!is_dotenv("settings:\n  A=1: 2\n"));
    assert!(is_dotenv("export=1"));
    assert!(!is_dotenv("1A=2"));
    assert!(!is_dotenv("A =2"));
    assert!(!is_dotenv("# A=1\n"));
    assert!(!is_dotenv(""));
    // parse dispatches on it, JSON first.
    assert!(super::super::file::parse("A=1\n", "x.json").is_err());
    assert_eq!(
        super::super::file::parse("A=1\n", "x.yaml")
            .unwrap()
            .entries[0]
            .key,
        "a"
    );
}

#[test]
fn quotes_concatenation_and_multiple_lines() {
    let text = "# comment\n\nA=plain\nexport B='it'\\''s $HOME'\nC=\"x \\\"q\\\" \\$y \\` \\\\ \\n \\t\"\nD='line1\nline2'\nE=\"a\nb\"\nF=\nG=''\nH=a'b c'\"d\"e\nI=v # trailing comment\nJ=v#not-a-comment   \r\nK='x'#y\n";
    let got = values(text);
    let want = [
        ("a", "plain"),
        ("b", "it's $HOME"),
        ("c", "x \"q\" $y ` \\ \n \\t"),
        ("d", "line1\nline2"),
        ("e", "a\nb"),
        ("f", ""),
        ("g", ""),
        ("h", "ab cde"),
        ("i", "v"),
        ("j", "v#not-a-comment"),
        ("k", "x#y"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
}

#[test]
fn errors_name_the_line_and_never_the_value() {
    let cases = [
        ("A=1\nsecretvalue\n", "line 2"),
        ("A=1\nB='s3cr3t\n", "line 2"),
        ("A=1\n\nB=\"s3cr3t\n\n", "line 3"),
        ("A=s3cr3t more\n", "line 1"),
        ("A=1\nB C=s3cr3t\n", "line 2"),
        ("A=1\n9B=s3cr3t\n", "line 2"),
        ("A=1\nA=s3cr3t\n", "line 2"),
        ("A='x\ny' s3cr3t\n", "line 2"),
        ("A=s3cr3t\0\n", "line 1"),
        ("A=1\n# keyward: a type=int\n\nB=s3cr3t\n", "line 2"),
        ("A=1\n# keyward: a\n", "line 2"),
        ("# keyward: b\nA=s3cr3t\n", "line 2"),
        ("# keyward: a type=int\nA=s3cr3t\n", "line 2"),
        ("# keyward: a type=wat\nA=s3cr3t\n", "line 1"),
        ("# keyward: .a\nA=s3cr3t\n", "line 1"),
        ("# keyward: a sekret\nA=s3cr3t\n", "line 1"),
    ];
    for (text, line) in cases {
        let msg = err(text);
        assert!(
            msg.starts_with("f.env at ") && msg.contains(line),
            "{text:?}: {msg}"
        );
        assert!(!msg.contains("s3cr3t"), "{text:?}: {msg}");
    }
    assert!(err("A=1\nA=2\n").contains("A is given twice"));
    assert!(err("A=1\nB='x\n").contains("never closed"));
    assert!(err("A=1\0\n").contains("NUL"));
}

#[test]
fn annotations_give_key_type_and_secrecy() {
    let f = parse(
        "# keyward: smtp.port type=int\nSMTP_PORT=' 587'\n# keyward: smtp.password secret\nSMTP_PASSWORD=x\n# keyward: note\nNOTE=y\nOTHER=z\n",
        "f.env",
    )
    .unwrap();
    let e: Vec<_> = f
        .entries
        .iter()
        .map(|e| {
            (
                e.key.as_str(),
                e.want.value.as_str(),
                e.want.value_type,
                e.secrecy,
            )
        })
        .collect();
    assert_eq!(
        e,
        [
            ("smtp.port", "587", ValueType::Int, Secrecy::Plain),
            ("smtp.password", "x", ValueType::String, Secrecy::Secret),
            ("note", "y", ValueType::String, Secrecy::Plain),
            ("other", "z", ValueType::String, Secrecy::Unsaid),
        ]
    );
    assert!(f.environment.is_none());
}

#[test]
fn export_lines_parse_back() {
    let list = [
        ("smtp.port", d("587", ValueType::Int, false)),
        (
            "smtp.password",
            d("it's \"$x\"\n#y \u{2028} ", ValueType::String, true),
        ),
        ("empty", d("", ValueType::String, false)),
        ("9lives", d("{\"a\":[1]}", ValueType::Json, false)),
        ("ratio", d("0.5", ValueType::Float, true)),
    ];
    for shell in [false, true] {
        let text: String = list.iter().map(|(k, d)| lines(shell, k, d)).collect();
        let f = parse(&text, "stdin").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(f.entries.len(), list.len());
        for ((k, want), got) in list.iter().zip(&f.entries) {
            assert_eq!(*k, got.key);
            assert_eq!(*want.value, *got.want.value);
            assert_eq!(want.value_type, got.want.value_type);
            assert_eq!(want.secret, got.want.secret);
        }
    }
    assert_eq!(
        lines(false, "smtp.port", &list[0].1),
        "# keyward: smtp.port type=int\nSMTP_PORT='587'\n"
    );
}

fn stored(key: &str, value_type: ValueType, secret: bool) -> Stored {
    Stored {
        id: SettingId(1),
        key: key.into(),
        environment: "development".into(),
        value: Some("x".into()),
        value_type,
        secret,
        category: Some("cat".into()),
        description: None,
        version: 1,
        deleted: false,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
        updated_by: None,
    }
}

#[test]
fn resolve_matches_existing_keys() {
    let current: BTreeMap<String, Stored> = [
        stored("smtp.port", ValueType::Int, false),
        stored("smtp.password", ValueType::String, true),
        stored("a.b", ValueType::String, false),
        stored("a-b", ValueType::String, false),
    ]
    .into_iter()
    .map(|s| (s.key.clone(), s))
    .collect();
    let f = parse(
        "SMTP_PORT=' 25'\nSMTP_PASSWORD=p\nA_B=ambiguous\nNEW_ONE=n\n",
        "f.env",
    )
    .unwrap();
    let r = resolve(&f, &current, "f.env").unwrap();
    let got: Vec<_> = r
        .iter()
        .map(|e| {
            (
                e.key.as_str(),
                e.want.value.as_str(),
                e.want.value_type,
                e.secrecy,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("smtp.port", "25", ValueType::Int, Secrecy::Unsaid),
            ("smtp.password", "p", ValueType::String, Secrecy::Unsaid),
            ("a_b", "ambiguous", ValueType::String, Secrecy::Unsaid),
            ("new_one", "n", ValueType::String, Secrecy::Unsaid),
        ]
    );
    assert_eq!(r[0].want.category.as_deref(), Some("cat"));
    // A value the existing type refuses, a name that makes no key, two names for one key.
    for (text, want) in [
        ("A=1\nSMTP_PORT=s3cr3t\n", "line 2"),
        ("A=1\n_X=1\n", "line 2"),
        ("foo=1\nFOO=s3cr3t\n", "line 2"),
    ] {
        let f = parse(text, "f.env").unwrap();
        let e = resolve(&f, &current, "f.env").expect_err("refused");
        let msg = e.to_string();
        assert_eq!(e.exit_code(), 2);
        assert!(msg.contains(want) && !msg.contains("s3cr3t"), "{msg}");
    }
}
