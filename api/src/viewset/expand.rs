//! `?expand=`: a row's representation with the key of each expanded relation replaced by
//! the target's representation, written in one pass. The targets of a page are fetched with
//! one statement per relation and serialized once each; each row is then serialized as usual,
//! through a serializer that swaps the relation's field for the target's JSON. No row goes
//! through an intermediate `serde_json::Value`.

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;

use serde::ser::{self, Serialize, SerializeMap, SerializeStruct, Serializer};
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

/// Serializes as `inner` does, except that the top-level fields that have targets are written
/// as their target (a key no target has, and `null`, stay as they are). The top level is a
/// struct, or a map when the row's type has `#[serde(flatten)]` fields.
struct Swapping<'a, S> {
    inner: S,
    expansion: &'a Expansion,
}

struct SwappingStruct<'a, S> {
    inner: S,
    expansion: &'a Expansion,
}

impl Expansion {
    /// `value`'s JSON, written into the scratch buffer.
    fn json<T: ?Sized + Serialize, E: ser::Error>(
        &self,
        value: &T,
    ) -> Result<RefMut<'_, Vec<u8>>, E> {
        let mut json = self.scratch.borrow_mut();
        json.clear();
        serde_json::to_writer(&mut *json, value).map_err(E::custom)?;
        Ok(json)
    }

    /// The targets of the field named `key`, if it is expanded.
    fn of_field(&self, key: &str) -> Option<&Targets> {
        self.targets.iter().find(|t| t.field == key)
    }

    /// The targets of a map key (a field of a flattened type): its JSON is `"field"`.
    fn of_key<K: ?Sized + Serialize, E: ser::Error>(&self, key: &K) -> Result<Option<&Targets>, E> {
        let json = self.json(key)?;
        Ok(json
            .strip_prefix(b"\"")
            .and_then(|json| json.strip_suffix(b"\""))
            .and_then(|name| std::str::from_utf8(name).ok())
            .and_then(|name| self.of_field(name)))
    }

    /// What a row's key `value` expands to, if `targets` has it.
    fn target<'t, T: ?Sized + Serialize, E: ser::Error>(
        &self,
        targets: &'t Targets,
        value: &T,
    ) -> Result<Option<&'t RawValue>, E> {
        let json = self.json(value)?;
        Ok(std::str::from_utf8(&json)
            .ok()
            .and_then(|json| targets.by_key.get(json))
            .map(|target| &**target))
    }
}

impl<S: SerializeStruct> SerializeStruct for SwappingStruct<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        if let Some(targets) = self.expansion.of_field(key)
            && let Some(target) = self.expansion.target(targets, value)?
        {
            return self.inner.serialize_field(key, target);
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

struct SwappingMap<'a, S> {
    inner: S,
    expansion: &'a Expansion,
    /// The targets of the key just written, for the value that follows it.
    pending: Option<&'a Targets>,
}

impl<'a, S: SerializeMap> SerializeMap for SwappingMap<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<K: ?Sized + Serialize>(&mut self, key: &K) -> Result<(), S::Error> {
        self.pending = self.expansion.of_key(key)?;
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), S::Error> {
        if let Some(targets) = self.pending.take()
            && let Some(target) = self.expansion.target(targets, value)?
        {
            return self.inner.serialize_value(target);
        }
        self.inner.serialize_value(value)
    }

    fn serialize_entry<K: ?Sized + Serialize, V: ?Sized + Serialize>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        if let Some(targets) = self.expansion.of_key(key)?
            && let Some(target) = self.expansion.target(targets, value)?
        {
            return self.inner.serialize_entry(key, target);
        }
        self.inner.serialize_entry(key, value)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

/// Everything but `serialize_struct` and `serialize_map` goes to the inner serializer
/// unchanged.
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
    type SerializeMap = SwappingMap<'a, S::SerializeMap>;
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

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(SwappingMap {
            inner: self.inner.serialize_map(len)?,
            expansion: self.expansion,
            pending: None,
        })
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

    /// `category` expanded, with one target: the row of key 7, whose JSON is `target`.
    fn category_7(target: &str) -> Expansion {
        Expansion::new(vec![Targets {
            field: "category",
            by_key: HashMap::from([(
                "7".to_string(),
                RawValue::from_string(target.into()).unwrap(),
            )]),
        }])
    }

    #[test]
    fn only_the_top_level_field_with_a_target_is_swapped() {
        let expansion = category_7(r#"{"id":7,"name":"Tools"}"#);
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

    #[derive(serde::Serialize)]
    struct Stamps {
        created: &'static str,
        category: Option<i64>,
    }

    #[derive(serde::Serialize)]
    struct Flattened {
        id: i64,
        #[serde(flatten)]
        stamps: Stamps,
        nested: Inner,
    }

    #[test]
    fn a_type_with_flattened_fields_is_swapped_too() {
        let expansion = category_7(r#"{"id":7}"#);
        let json = |category| {
            serde_json::to_string(&Expanded {
                row: Flattened {
                    id: 1,
                    stamps: Stamps {
                        created: "now",
                        category,
                    },
                    nested: Inner { category: 7 },
                },
                expansion: &expansion,
            })
            .unwrap()
        };
        assert_eq!(
            json(Some(7)),
            r#"{"id":1,"created":"now","category":{"id":7},"nested":{"category":7}}"#
        );
        assert_eq!(
            json(None),
            r#"{"id":1,"created":"now","category":null,"nested":{"category":7}}"#
        );
        // A map written key, then value, as other serializers may do.
        let mut out = Vec::new();
        let mut writer = serde_json::Serializer::new(&mut out);
        let mut map = Swapping {
            inner: &mut writer,
            expansion: &expansion,
        }
        .serialize_map(None)
        .unwrap();
        map.serialize_key("category").unwrap();
        map.serialize_value(&7).unwrap();
        map.serialize_key("other").unwrap();
        map.serialize_value(&7).unwrap();
        SerializeMap::end(map).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"category":{"id":7},"other":7}"#
        );
    }
}
