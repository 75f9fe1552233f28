//! `${VAR}` and `${VAR:-default}` in the string values of a pipeline file.

use super::locate::FieldPath;

/// Replaces `${VAR}` and `${VAR:-default}` in every string inside `value` with values from `env`; `$${` is a
/// literal `${`.
///
/// # Errors
///
/// The path inside `value` and a message, for an unset variable without a default or an unclosed `${`.
pub fn interpolate(
    value: &mut toml::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (FieldPath, String)> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = interpolate_str(s, env).map_err(|m| (FieldPath::root(), m))?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, env)
                    .map_err(|(p, m)| (FieldPath::root().index(i).join(&p), m))?;
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate(item, env)
                    .map_err(|(p, m)| (FieldPath::root().key(key.clone()).join(&p), m))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn interpolate_str(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
            let body = &tail[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "`${{{body}}}` is not an environment variable reference"
                ));
            }
            match (env(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` for a default)"
                    ));
                }
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME_DIR").then(|| "/home/x".to_owned())
    }

    #[test]
    fn replaces_defaults_and_escapes() {
        assert_eq!(interpolate_str("${HOME_DIR}/a", &env).unwrap(), "/home/x/a");
        assert_eq!(interpolate_str("${NOPE:-d}", &env).unwrap(), "d");
        assert_eq!(
            interpolate_str("$${HOME_DIR} costs $5", &env).unwrap(),
            "${HOME_DIR} costs $5"
        );
        assert!(
            interpolate_str("${NOPE}", &env)
                .unwrap_err()
                .contains("`NOPE` is not set")
        );
        assert!(interpolate_str("${OPEN", &env).is_err());
        assert!(interpolate_str("${a b}", &env).is_err());
    }

    #[test]
    fn reports_the_path_inside_a_value() {
        let mut v: toml::Value =
            toml::from_str::<toml::Table>("x = [{ a = \"${NOPE}\" }]").unwrap()["x"].clone();
        let (path, _) = interpolate(&mut v, &env).unwrap_err();
        assert_eq!(path.to_string(), "[0].a");
    }
}
