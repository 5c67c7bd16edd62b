//! A YAML node read for the settings file without serde's own wording of
//! what it could not take, which quotes the input: `serde_yaml::Value`'s
//! visitor would refuse an integer beyond 64 bits as ``invalid type: integer
//! `1234…` as u128`` and a repeated key of a nested mapping by its text. Here
//! both are refused by kind; serde_yaml adds where (the key path and line).

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

/// One YAML value, as `serde_yaml::Value` holds it.
pub(super) struct Node(pub(super) Value);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Visit)
    }
}

pub(super) const TOO_BIG: &str =
    "an integer beyond 64 bits is not supported: quote it to keep it as text";

/// The line (1-based) of the first integer in a JSON text, outside its
/// strings, that fits neither `i64` nor `u64` (no `.`, `e` or `E`): a small
/// tokenizer that follows strings and their escapes. The text is JSON that
/// serde_json has already read.
pub(super) fn json_big_integer(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut i, mut line, mut in_string) = (0, 1, false);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => line += 1,
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'-' | b'0'..=b'9' if !in_string => {
                let end = bytes[i..]
                    .iter()
                    .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(bytes.len(), |n| i + n);
                let token = &text[i..end];
                let integer = !token.contains(['.', 'e', 'E']);
                if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                    return Some(line);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

struct Visit;

impl<'de> de::Visitor<'de> for Visit {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node(Value::Bool(b)))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node, E> {
        Ok(Node(Value::Number(i.into())))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node, E> {
        Ok(Node(Value::Number(u.into())))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Err(E::custom(TOO_BIG))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Err(E::custom(TOO_BIG))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Node, E> {
        Ok(Node(Value::Number(f.into())))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node(Value::String(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node(Value::String(s)))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(Node(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node(Value::Sequence(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut out = Mapping::new();
        while let Some(Node(k)) = map.next_key()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom("a key appears twice in this mapping"));
            }
            let Node(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Node(Value::Mapping(out)))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
        // serde_yaml hands a tagged value (`!tag value`) over as an enum.
        let (tag, contents): (String, _) = data.variant()?;
        if tag.is_empty() {
            return Err(de::Error::custom("empty YAML tag is not allowed"));
        }
        let Node(value) = contents.newtype_variant()?;
        Ok(Node(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::json_big_integer;

    #[test]
    fn json_integers_beyond_64_bits_are_found_outside_strings() {
        assert_eq!(
            json_big_integer(r#"{"a": 18446744073709551615, "b": -9223372036854775808}"#),
            None
        );
        assert_eq!(
            json_big_integer("{\n\"a\":\n 18446744073709551616}"),
            Some(3)
        );
        assert_eq!(json_big_integer(r#"{"a": -9223372036854775809}"#), Some(1));
        assert_eq!(
            json_big_integer(
                r#"{"a": 1.2345678901234567890123e29, "b": 123456789012345678901234567890.0}"#
            ),
            None
        );
        assert_eq!(
            json_big_integer(r#"{"a": "123456789012345678901234567890"}"#),
            None
        );
        assert_eq!(
            json_big_integer(r#"{"a\"123456789012345678901234567890": 1}"#),
            None
        );
        assert_eq!(
            json_big_integer(r#"{"a\\": [1, 123456789012345678901234567890]}"#),
            Some(1)
        );
    }
}
