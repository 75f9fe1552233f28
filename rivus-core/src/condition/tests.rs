use super::*;

fn rec(json: &str) -> Record {
    serde_json::from_str(json).unwrap()
}

fn holds(cond: &str, json: &str) -> bool {
    Condition::parse(cond).unwrap().eval(&rec(json)).unwrap()
}

fn parse_err(cond: &str) -> ConditionError {
    Condition::parse(cond).unwrap_err()
}

#[test]
fn comparisons_and_logic() {
    let r =
        r#"{"status":"paid","amount":12.5,"n":3,"ok":true,"c":{"country":"FR"},"tags":["a","b"]}"#;
    assert!(holds("status == 'paid' and amount > 10", r));
    assert!(!holds("status == 'paid' and amount > 20", r));
    assert!(holds("status == 'new' or amount >= 12.5", r));
    assert!(holds("not status == 'new'", r));
    assert!(holds("not (status == 'new' or n < 3)", r));
    assert!(holds("n <= 3 and n != 4 and n == 3.0", r));
    assert!(holds("c.country == \"FR\"", r));
    assert!(holds("ok", r));
    assert!(holds("ok == true and not missing", r));
    assert!(holds("status in ['new', 'paid'] and n in [1, 2, 3]", r));
    assert!(holds("status not in ['new']", r));
    assert!(holds("status =~ '^pa' and status !~ 'x'", r));
    assert!(holds(
        "exists(amount) and not exists(nope) and not exists(c.city)",
        r
    ));
    assert!(holds("tags contains 'b' and status contains 'ai'", r));
    assert!(holds("`status` == 'paid'", r));
    assert!(holds("a or b or status == 'paid'", r));
    assert!(holds("true and (false or true)", r));
}

#[test]
fn absent_and_null_fields() {
    let r = r#"{"x":null}"#;
    assert!(!holds("x == 1", r));
    assert!(holds("x != 1", r));
    assert!(holds("x == null and y == null", r));
    assert!(!holds("y > 1 or y < 1 or y in [1]", r));
    assert!(!holds("y =~ 'a'", r));
    assert!(holds("y !~ 'a'", r));
    assert!(!holds("exists(x)", r));
}

#[test]
fn mismatched_kinds_are_errors_naming_the_field() {
    let c = Condition::parse("amount > 10").unwrap();
    let err = c.eval(&rec(r#"{"amount":"11"}"#)).unwrap_err();
    assert!(
        err.to_string().contains("field `amount` is a string"),
        "{err}"
    );
    let c = Condition::parse("n =~ 'a'").unwrap();
    assert!(c.eval(&rec(r#"{"n":1}"#)).is_err());
    let c = Condition::parse("flag").unwrap();
    assert!(c.eval(&rec(r#"{"flag":"yes"}"#)).is_err());
    // `in` compares loosely: a value of another kind is just not in the list.
    assert!(!holds("n in ['1']", r#"{"n":1}"#));
}

#[test]
fn errors_say_where() {
    let e = parse_err("status = 'paid'");
    assert_eq!(e.column, 8);
    let e = parse_err("status == 'paid' and");
    assert_eq!(e.column, 21, "{e}");
    assert!(e.message.contains("found the end"), "{e}");
    let e = parse_err("amount > ");
    assert!(e.message.contains("a field or a value"), "{e}");
    let e = parse_err("(a == 1");
    assert!(e.message.contains("`)`"), "{e}");
    let e = parse_err("name =~ '(unclosed'");
    assert_eq!(e.column, 9, "{e}");
    assert!(e.message.contains("regular expression"), "{e}");
    let e = parse_err("s == 'open");
    assert_eq!(e.column, 6);
    let e = parse_err("a in [b]");
    assert!(e.message.contains("holds values"), "{e}");
    let e = parse_err("a == 1 b == 2");
    assert_eq!(e.column, 8, "{e}");
    assert_eq!(parse_err("").column, 1);
    assert_eq!(parse_err("10").column, 3);
    let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
    assert!(parse_err(&deep).message.contains("nests deeper"));
    let nots = format!("{}a", "not ".repeat(200));
    assert!(parse_err(&nots).message.contains("nests deeper"));
}

#[test]
fn field_tests_compile_to_the_same_tree() {
    let c = Condition::field_test("amount", FieldTest::Gt, 10.into());
    assert!(c.eval(&rec(r#"{"amount":11}"#)).unwrap());
    assert_eq!(c.as_str(), "`amount` > 10");
    let m = Condition::field_test("a.b", FieldTest::Missing, Value::Null);
    assert!(!m.eval(&rec(r#"{"a.b":1}"#)).unwrap());
    assert!(m.eval(&rec(r#"{"a":{"b":1}}"#)).unwrap());
}

#[test]
fn serde_round_trip() {
    let c: Condition = serde_json::from_value(serde_json::json!("a == 1")).unwrap();
    assert_eq!(serde_json::to_value(&c).unwrap(), "a == 1");
    let err = serde_json::from_value::<Condition>(serde_json::json!("a ==")).unwrap_err();
    assert!(
        err.to_string().starts_with("at column 5 of the condition"),
        "{err}"
    );
}

#[test]
fn fields_are_the_top_level_names_read() {
    let fields = |text: &str| {
        Condition::parse(text)
            .unwrap()
            .fields()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fields("not (a == b) or c in [1] and d =~ 'x' or exists(e.f) or g or 1 < h"),
        ["a", "b", "c", "d", "e", "g", "h"]
    );
    assert_eq!(fields("`x.y` contains 'z' and x.y != 1"), ["x.y", "x"]);
    assert!(fields("1 == 1").is_empty());
    let test = Condition::field_test("a.b", FieldTest::Exists, Value::Null);
    assert_eq!(test.fields(), ["a.b"]);
}

#[test]
fn shortcuts_decide_as_the_walk_does() {
    let conditions = [
        "s == 'paid'",
        "s != 'paid'",
        "'paid' == s",
        "s == ''",
        "n == 2",
        "n != 2",
        "n < 2",
        "n <= 2",
        "n > 2",
        "n >= 2.5",
        "n > -1e300",
    ];
    let values = [
        Value::from("paid"),
        Value::from(""),
        Value::from("2"),
        Value::from(2),
        Value::from(2.5),
        Value::from(-3),
        Value::from(u64::MAX),
        Value::Bool(true),
        Value::Null,
        serde_json::json!([1, 2]).into(),
        serde_json::json!({"a": 1}).into(),
    ];
    for text in conditions {
        let condition = Condition::parse(text).unwrap();
        assert_ne!(condition.shortcut, Shortcut::Walk, "{text}");
        // Records whose names are interned, as the condition's, or not: the same results.
        let interned = |field: &str, value: &Value| {
            let mut record = Record::new();
            record.push(FieldName::interned(field), value.clone());
            record
        };
        for field in ["s", "n"] {
            for value in &values {
                let record: Record = [(field, value.clone())].into_iter().collect();
                assert_eq!(
                    condition.eval(&record),
                    condition.root.eval(&record),
                    "{text} on {record:?}"
                );
                assert_eq!(
                    condition.eval(&interned(field, value)),
                    condition.root.eval(&record),
                    "{text} on {record:?}, interned"
                );
            }
            assert_eq!(
                condition.eval(&Record::new()),
                condition.root.eval(&Record::new())
            );
        }
    }
    for text in ["n.x > 2", "n contains 2", "2 < n", "s == 'a' and n > 1"] {
        assert_eq!(
            Condition::parse(text).unwrap().shortcut,
            Shortcut::Walk,
            "{text}"
        );
    }
}
