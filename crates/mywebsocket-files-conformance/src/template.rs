//! `${...}` templates in case steps: transfer ids, hashes, sizes and the accept's numbers.

use std::collections::BTreeMap;

use mywebsocket_files::TransferId;
use serde_json::Value;

/// What a template can name.
#[derive(Debug, Default)]
pub(crate) struct Vars {
    /// Ids by transfer name.
    pub(crate) ids: BTreeMap<String, TransferId>,
    /// Sizes by transfer name.
    pub(crate) sizes: BTreeMap<String, u64>,
    /// Last ack read, by transfer name.
    pub(crate) acked: BTreeMap<String, u64>,
    /// From the last `accept` sent or read.
    pub(crate) window: u64,
    /// From the last `accept` sent or read.
    pub(crate) max_chunk: u64,
    pub(crate) max_file_size: u64,
    pub(crate) max_concurrent: u64,
}

impl Vars {
    /// Expands one `${...}` expression: `NAME[:ARG[:ARG]][(+|-|*)N]`.
    pub(crate) fn eval(&self, expr: &str) -> Result<Value, String> {
        let (base, op) = match expr.rfind(['+', '-', '*']) {
            Some(at)
                if expr[at + 1..].chars().all(|c| c.is_ascii_digit()) && at + 1 < expr.len() =>
            {
                let n: u64 = expr[at + 1..].parse().map_err(|e| format!("{expr}: {e}"))?;
                (&expr[..at], Some((expr.as_bytes()[at], n)))
            }
            _ => (expr, None),
        };
        let parts: Vec<&str> = base.split(':').collect();
        let transfer = |i: usize| -> Result<&str, String> {
            parts
                .get(i)
                .copied()
                .ok_or_else(|| format!("${{{expr}}}: which transfer?"))
        };
        let id = |name: &str| {
            self.ids
                .get(name)
                .copied()
                .ok_or_else(|| format!("${{{expr}}}: no transfer {name:?} (or no offer read yet)"))
        };
        let size = |name: &str| {
            self.sizes
                .get(name)
                .copied()
                .ok_or_else(|| format!("${{{expr}}}: no transfer {name:?}"))
        };
        let number = match parts[0] {
            "id" => return Ok(Value::String(id(transfer(1)?)?.to_string())),
            "ID" => return Ok(Value::String(id(transfer(1)?)?.to_string().to_uppercase())),
            "sha" => return Ok(Value::String(crate_content_sha(size(transfer(1)?)?))),
            "repeat" => {
                let n: usize = transfer(2)?.parse().map_err(|e| format!("{expr}: {e}"))?;
                return Ok(Value::String(transfer(1)?.repeat(n)));
            }
            "size" => size(transfer(1)?)?,
            "acked" => self.acked.get(transfer(1)?).copied().unwrap_or(0),
            "window" => self.window,
            "max_chunk" => self.max_chunk,
            "q" => (self.window / 4).max(1),
            "max_file_size" => self.max_file_size,
            "max_concurrent" => self.max_concurrent,
            other => return Err(format!("${{{expr}}}: unknown name {other:?}")),
        };
        let number = match op {
            None => number,
            Some((b'+', n)) => number + n,
            Some((b'-', n)) => number.saturating_sub(n),
            Some((_, n)) => number * n,
        };
        Ok(Value::from(number))
    }

    /// Expands every `${...}` in `text`.
    pub(crate) fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
            match self.eval(&rest[start + 2..start + end])? {
                Value::String(s) => out.push_str(&s),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A template value: a string that is one whole `${...}` becomes what it names (a number
    /// stays a number); other strings are expanded; numbers are themselves.
    pub(crate) fn value(&self, template: &Value) -> Result<Value, String> {
        match template {
            Value::String(s)
                if s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1 =>
            {
                self.eval(&s[2..s.len() - 1])
            }
            Value::String(s) => Ok(Value::String(self.expand(s)?)),
            other => Ok(other.clone()),
        }
    }

    /// A template that must give an integer.
    pub(crate) fn number(&self, template: &Value) -> Result<u64, String> {
        self.value(template)?
            .as_u64()
            .ok_or_else(|| format!("{template} is not a number"))
    }
}

fn crate_content_sha(size: u64) -> String {
    mywebsocket_files_conformance::content::sha256_hex(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ids_sizes_and_arithmetic() {
        let mut vars = Vars::default();
        vars.ids.insert("a".into(), TransferId([0xab; 16]));
        vars.sizes.insert("a".into(), 1000);
        vars.max_chunk = 64;
        assert_eq!(vars.eval("size:a+1").unwrap(), Value::from(1001));
        assert_eq!(vars.eval("max_chunk*2").unwrap(), Value::from(128));
        assert_eq!(vars.eval("max_chunk-1").unwrap(), Value::from(63));
        assert_eq!(
            vars.expand(r#"{"id":"${ID:a}"}"#).unwrap(),
            format!(r#"{{"id":"{}"}}"#, "AB".repeat(16))
        );
        assert_eq!(vars.eval("repeat:x:3").unwrap(), Value::from("xxx"));
        assert_eq!(
            vars.value(&Value::from("${size:a}")).unwrap(),
            Value::from(1000)
        );
    }
}
