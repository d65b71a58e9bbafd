//! How `#[cached]` expansions build keys: [`Key`] collects the text, [`KeyArg`] writes an
//! argument of a default key.
//!
//! **Template keys** (`key = "user:{self.tenant}:{id}"`) copy the literal text as written and
//! percent-escape every interpolated value: `%` becomes `%25`, and so does every character of
//! the template's *separator set* (as `%XX` per UTF-8 byte, uppercase hex). The macro computes
//! that set from the template, the first character of each piece of literal text that follows a
//! placeholder, and passes it as a string literal. A value then never contains the character
//! that starts the text after it, so a key splits back into its values in exactly one way
//! (left to right, each value ending at the first separator character), and two calls share an
//! entry only when their values are equal. Type and const parameters are written unescaped:
//! they come from the program, not from a caller.
//!
//! **Default keys** are `<path>::<fn>[::<T>,..](<arg>,<arg>)`, each argument written by its
//! `Serialize` through [`ArgWriter`], whose output is self-delimiting, so distinct arguments give
//! distinct keys whatever their `Debug` prints.
//!
//! A value whose `Display` or `Serialize` fails leaves the key incomplete (it could equal another
//! call's key), so [`Key::finish`] then returns an empty key, which the cache refuses: the call
//! runs its body uncached, as for any refused key.

use std::fmt::{self, Display, Write};

use serde::Serialize;
use serde::ser::{
    self, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};

/// A key being built.
pub struct Key {
    text: String,
    /// A value failed to format: the key is incomplete and must not be used.
    failed: bool,
}

impl Key {
    /// A key starting with `text`, with room for about `extra` more bytes.
    #[inline]
    #[must_use]
    pub fn start(text: &str, extra: usize) -> Self {
        let mut key = String::with_capacity(text.len() + extra);
        key.push_str(text);
        Key {
            text: key,
            failed: false,
        }
    }

    /// Literal text of the template, or a type parameter's name: copied as is.
    #[inline]
    pub fn push_str(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// `{arg}`: the value's `Display`, escaped.
    #[inline]
    pub fn push_display<T: Display + ?Sized>(&mut self, value: &T, separators: &str) {
        self.push_fmt(format_args!("{value}"), separators);
    }

    /// `{arg:spec}`: the formatted value, escaped.
    #[inline]
    pub fn push_fmt(&mut self, value: fmt::Arguments<'_>, separators: &str) {
        let mut escaped = Escaped {
            key: &mut self.text,
            separators,
        };
        if escaped.write_fmt(value).is_err() {
            self.fail("a value's `Display` returned an error");
        }
    }

    /// A const parameter (or a type parameter with a format spec): not escaped, since it comes
    /// from the program, not from a caller.
    #[inline]
    pub fn push_unescaped(&mut self, value: fmt::Arguments<'_>) {
        if self.text.write_fmt(value).is_err() {
            self.fail("a generic parameter's `Display` returned an error");
        }
    }

    /// The key, or an empty one (which the cache refuses) when a value failed to format.
    #[inline]
    #[must_use]
    pub fn finish(self) -> String {
        if self.failed {
            String::new()
        } else {
            self.text
        }
    }

    #[cold]
    fn fail(&mut self, why: &str) {
        tracing::warn!(
            reason = why,
            "#[cached]: the key could not be built, so this call runs uncached"
        );
        self.failed = true;
    }
}

/// Writes into a key, percent-escaping `%` and the separators, copying runs of other
/// characters at once (a value without special characters is one `push_str`).
struct Escaped<'a> {
    key: &'a mut String,
    separators: &'a str,
}

impl Write for Escaped<'_> {
    #[inline]
    fn write_str(&mut self, value: &str) -> fmt::Result {
        let mut rest = value;
        while let Some(at) = find_special(rest, self.separators) {
            let (plain, special) = rest.split_at(at);
            self.key.push_str(plain);
            let mut chars = special.chars();
            if let Some(c) = chars.next() {
                percent_encode(self.key, c);
            }
            rest = chars.as_str();
        }
        self.key.push_str(rest);
        Ok(())
    }
}

/// The byte offset of the first character that must be escaped.
#[inline]
fn find_special(text: &str, separators: &str) -> Option<usize> {
    match separators.as_bytes() {
        // A byte scan: keys are short, and `%` is ASCII (see below).
        [] => text.bytes().position(|b| b == b'%'),
        // An ASCII byte never occurs inside a multi-byte character, so a byte scan finds
        // exactly the characters.
        set if separators.is_ascii() => text.bytes().position(|b| b == b'%' || set.contains(&b)),
        _ => text.find(|c: char| c == '%' || separators.contains(c)),
    }
}

fn percent_encode(key: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut utf8 = [0; 4];
    for byte in c.encode_utf8(&mut utf8).bytes() {
        key.push('%');
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0x0F)]));
    }
}

/// An argument of a `#[cached]` function without `key = ...`: part of the default key.
///
/// The requirement sits on the impl, so a type without `Serialize` is reported as "not
/// `KeyArg`" with the message below, at the argument.
#[diagnostic::on_unimplemented(
    message = "the default key of a #[cached] function is built from its arguments' `Serialize`; derive `Serialize` for `{Self}`, or write `key = \"...\"`",
    label = "this argument is part of the default key, so `{Self}` must be `Serialize`",
    note = "`Debug` is not used for keys: a redacting `Debug` would let different values share an entry"
)]
pub trait KeyArg {
    /// Writes the argument into `key`.
    fn write_key(&self, key: &mut Key);
}

impl<T: Serialize + ?Sized> KeyArg for T {
    #[inline]
    fn write_key(&self, key: &mut Key) {
        if let Err(error) = self.serialize(ArgWriter(&mut key.text)) {
            key.fail(&format!("an argument's `Serialize` failed: {error}"));
        }
    }
}

/// A small text format for default keys, readable in `redis-cli` and self-delimiting, so that
/// distinct values of a type give distinct text: strings `"a\"b"` (`"` and `\` escaped with
/// `\`), chars `'c'`, numbers and bools plain, `None`/`Some(x)` (unit is `None` too),
/// sequences `[a,b]`, tuples `(a,b)`, maps `{k:v}` in iteration order, structs `Name{f:v}`,
/// tuple structs `Name(a,b)`, enums `Variant`, `Variant(x)`, `Variant{f:v}`, bytes as a sequence
/// of numbers.
pub struct ArgWriter<'a>(&'a mut String);

/// An argument's `Serialize` failed (its message, for the warning), or a `Display` it called.
#[derive(Debug)]
pub struct ArgError(String);

impl ArgError {
    fn display() -> Self {
        ArgError("a `Display` inside it returned an error".into())
    }
}

impl Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

impl ser::Error for ArgError {
    fn custom<T: Display>(message: T) -> Self {
        // Not `to_string`, which panics on a failing `Display`: the message only goes to a
        // warning, so a partial one will do.
        let mut text = String::new();
        let _partial = write!(text, "{message}");
        ArgError(text)
    }
}

impl<'a> ArgWriter<'a> {
    fn plain(self, value: impl Display) -> Result<(), ArgError> {
        write!(self.0, "{value}").map_err(|_| ArgError::display())
    }

    /// `value` between `quote`s, with `quote` and `\` escaped by a `\`.
    fn quoted(self, quote: char, value: &(impl Display + ?Sized)) -> Result<(), ArgError> {
        self.0.push(quote);
        write!(
            Quoted {
                out: &mut *self.0,
                quote
            },
            "{value}"
        )
        .map_err(|_| ArgError::display())?;
        self.0.push(quote);
        Ok(())
    }

    fn open(self, name: &str, open: char, close: char) -> Compound<'a> {
        self.0.push_str(name);
        self.0.push(open);
        Compound {
            out: self.0,
            first: true,
            close,
        }
    }
}

/// Escapes the quote character and `\` inside a quoted string.
struct Quoted<'a> {
    out: &'a mut String,
    quote: char,
}

impl Write for Quoted<'_> {
    fn write_str(&mut self, value: &str) -> fmt::Result {
        let mut rest = value;
        while let Some(at) = rest.find([self.quote, '\\']) {
            let (plain, special) = rest.split_at(at);
            self.out.push_str(plain);
            self.out.push('\\');
            let mut chars = special.chars();
            if let Some(c) = chars.next() {
                self.out.push(c);
            }
            rest = chars.as_str();
        }
        self.out.push_str(rest);
        Ok(())
    }
}

/// The serializer functions that write a value with its `Display`.
macro_rules! plain {
    ($($method:ident: $ty:ty),* $(,)?) => {$(
        fn $method(self, value: $ty) -> Result<(), ArgError> {
            self.plain(value)
        }
    )*};
}

impl<'a> ser::Serializer for ArgWriter<'a> {
    type Ok = ();
    type Error = ArgError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    plain! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64,
    }

    fn serialize_char(self, value: char) -> Result<(), ArgError> {
        self.quoted('\'', &value)
    }

    fn serialize_str(self, value: &str) -> Result<(), ArgError> {
        self.quoted('"', value)
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<(), ArgError> {
        self.quoted('"', value)
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), ArgError> {
        let mut seq = self.open("", '[', ']');
        for byte in value {
            SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), ArgError> {
        self.0.push_str("None");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), ArgError> {
        self.serialize_newtype_struct("Some", value)
    }

    fn serialize_unit(self) -> Result<(), ArgError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), ArgError> {
        self.0.push_str(name);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), ArgError> {
        self.serialize_unit_struct(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ArgError> {
        let mut tuple = self.open(name, '(', ')');
        SerializeTuple::serialize_element(&mut tuple, value)?;
        SerializeTuple::end(tuple)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), ArgError> {
        self.serialize_newtype_struct(variant, value)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, ArgError> {
        Ok(self.open("", '[', ']'))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, ArgError> {
        Ok(self.open("", '(', ')'))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, ArgError> {
        Ok(self.open(name, '(', ')'))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, ArgError> {
        Ok(self.open(variant, '(', ')'))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, ArgError> {
        Ok(self.open("", '{', '}'))
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, ArgError> {
        Ok(self.open(name, '{', '}'))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, ArgError> {
        Ok(self.open(variant, '{', '}'))
    }
}

/// A sequence, tuple, map or struct being written: elements separated by `,`.
pub struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    close: char,
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ArgError> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        value.serialize(ArgWriter(self.out))
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), ArgError> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        self.out.push_str(name);
        self.out.push(':');
        value.serialize(ArgWriter(self.out))
    }

    fn close(self) -> Result<(), ArgError> {
        self.out.push(self.close);
        Ok(())
    }
}

/// The `Serialize*` traits of [`Compound`], which differ only in their method names.
macro_rules! compound {
    ($($trait:ident: $method:ident),* $(,)?) => {$(
        impl $trait for Compound<'_> {
            type Ok = ();
            type Error = ArgError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ArgError> {
                self.element(value)
            }

            fn end(self) -> Result<(), ArgError> {
                self.close()
            }
        }
    )*};
}

compound! {
    SerializeSeq: serialize_element,
    SerializeTuple: serialize_element,
    SerializeTupleStruct: serialize_field,
    SerializeTupleVariant: serialize_field,
}

impl SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = ArgError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ArgError> {
        self.element(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ArgError> {
        self.out.push(':');
        value.serialize(ArgWriter(self.out))
    }

    fn end(self) -> Result<(), ArgError> {
        self.close()
    }
}

/// The struct traits, which write `name:value`.
macro_rules! fields {
    ($($trait:ident),* $(,)?) => {$(
        impl $trait for Compound<'_> {
            type Ok = ();
            type Error = ArgError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), ArgError> {
                self.field(name, value)
            }

            fn end(self) -> Result<(), ArgError> {
                self.close()
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
