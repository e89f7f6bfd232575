//! `?expand=`: a row's representation with the key of each expanded relation replaced by
//! the target's representation, written in one pass. The targets of a page are fetched with
//! one statement per relation and serialized once each; each row is then serialized as usual,
//! through a serializer that swaps the relation's field for the target's JSON. No row goes
//! through an intermediate `serde_json::Value`.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::ser::{self, Serialize, SerializeStruct, Serializer};
use serde_json::value::RawValue;

/// The targets of one relation for one page, by the JSON of their key as a row holds it
/// (`7`, `"fr"`), each serialized once.
pub struct Targets {
    /// The relation's field in the row.
    pub field: &'static str,
    pub by_key: HashMap<String, Box<RawValue>>,
}

/// The targets of a page's expanded relations, and room to write a row's key in.
pub struct Expansion {
    pub targets: Vec<Targets>,
    scratch: RefCell<Vec<u8>>,
}

impl Expansion {
    pub fn new(targets: Vec<Targets>) -> Expansion {
        Expansion {
            targets,
            scratch: RefCell::new(Vec::with_capacity(32)),
        }
    }
}

/// A row to serialize with the relations of `expansion` expanded.
pub struct Expanded<'a, T> {
    pub row: T,
    pub expansion: &'a Expansion,
}

impl<T: Serialize> Serialize for Expanded<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.row.serialize(Swapping {
            inner: serializer,
            expansion: self.expansion,
        })
    }
}

/// Serializes as `inner` does, except that the top-level struct's fields that have targets
/// are written as their target (a key no target has, and `null`, stay as they are).
struct Swapping<'a, S> {
    inner: S,
    expansion: &'a Expansion,
}

struct SwappingStruct<'a, S> {
    inner: S,
    expansion: &'a Expansion,
}

impl<S: SerializeStruct> SerializeStruct for SwappingStruct<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        if let Some(targets) = self.expansion.targets.iter().find(|t| t.field == key) {
            let target = {
                let mut json = self.expansion.scratch.borrow_mut();
                json.clear();
                serde_json::to_writer(&mut *json, value).map_err(ser::Error::custom)?;
                std::str::from_utf8(&json)
                    .ok()
                    .and_then(|json| targets.by_key.get(json))
            };
            if let Some(target) = target {
                return self.inner.serialize_field(key, target);
            }
        }
        self.inner.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

/// Everything but `serialize_struct` goes to the inner serializer unchanged.
macro_rules! delegate {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<$out, S::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<'a, S: Serializer> Serializer for Swapping<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = S::SerializeMap;
    type SerializeStruct = SwappingStruct<'a, S::SerializeStruct>;
    type SerializeStructVariant = S::SerializeStructVariant;

    delegate! {
        serialize_bool(v: bool) -> S::Ok;
        serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok;
        serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok;
        serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok;
        serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok;
        serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok;
        serialize_f32(v: f32) -> S::Ok;
        serialize_f64(v: f64) -> S::Ok;
        serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok;
        serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
        serialize_seq(len: Option<usize>) -> S::SerializeSeq;
        serialize_tuple(len: usize) -> S::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> S::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> S::SerializeMap;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(value)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, value)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(SwappingStruct {
            inner: self.inner.serialize_struct(name, len)?,
            expansion: self.expansion,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Inner {
        category: i64,
    }

    #[derive(serde::Serialize)]
    struct Row {
        id: i64,
        category: Option<i64>,
        nested: Inner,
        tags: Vec<&'static str>,
    }

    #[test]
    fn only_the_top_level_field_with_a_target_is_swapped() {
        let expansion = Expansion::new(vec![Targets {
            field: "category",
            by_key: HashMap::from([(
                "7".to_string(),
                RawValue::from_string(r#"{"id":7,"name":"Tools"}"#.into()).unwrap(),
            )]),
        }]);
        let json = |category| {
            serde_json::to_string(&Expanded {
                row: Row {
                    id: 1,
                    category,
                    nested: Inner { category: 7 },
                    tags: vec!["a"],
                },
                expansion: &expansion,
            })
            .unwrap()
        };
        assert_eq!(
            json(Some(7)),
            r#"{"id":1,"category":{"id":7,"name":"Tools"},"nested":{"category":7},"tags":["a"]}"#
        );
        assert_eq!(
            json(None),
            r#"{"id":1,"category":null,"nested":{"category":7},"tags":["a"]}"#
        );
        assert_eq!(
            json(Some(8)),
            r#"{"id":1,"category":8,"nested":{"category":7},"tags":["a"]}"#
        );
    }
}
