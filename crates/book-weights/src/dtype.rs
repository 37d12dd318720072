//! NumPy element types: what a file declares ([`DType`]) and what a reader accepts ([`Float`]).

use std::fmt;

/// A floating-point element type a caller accepts; either byte order is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Float {
    /// NumPy's `float32` (`'<f4'` or `'>f4'`).
    F32,
    /// NumPy's `float64` (`'<f8'` or `'>f8'`).
    F64,
}

impl Float {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }
}

impl fmt::Display for Float {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Float::F32 => "float32",
            Float::F64 => "float64",
        })
    }
}

/// A NumPy element type as a file declares it, kept as NumPy's type string (`'<f8'`, `'>i4'`,
/// `'|O'`, `'<U3'`...); displayed as NumPy names it (`float64`, `int32, big-endian`, `object`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DType {
    descr: String,
}

impl DType {
    /// The type of NumPy type string `descr` (a byte order `<`, `>`, `|` or `=`, then a kind and
    /// a size, as in `'<f8'`); any text is kept, to be displayed in an error.
    pub fn from_descr(descr: &str) -> Self {
        Self {
            descr: descr.to_owned(),
        }
    }

    /// NumPy's type string, as the file gives it.
    pub fn descr(&self) -> &str {
        &self.descr
    }

    /// The byte order, kind and the rest (`"8"`, `"8[ns]"`) of the type string.
    fn parts(&self) -> (Option<char>, Option<char>, &str) {
        let mut chars = self.descr.chars();
        let first = chars.next();
        match first {
            Some(order @ ('<' | '>' | '|' | '=')) => {
                let kind = chars.next();
                let rest = kind.map_or("", |k| &self.descr[1 + k.len_utf8()..]);
                (Some(order), kind, rest)
            }
            Some(kind) => (None, Some(kind), &self.descr[kind.len_utf8()..]),
            None => (None, None, ""),
        }
    }

    /// The float type and whether it is big-endian, if this is a float32 or float64 of a known
    /// byte order.
    pub(crate) fn float(&self) -> Option<(Float, bool)> {
        let (order, kind, rest) = self.parts();
        let float = match (kind, rest) {
            (Some('f'), "4") => Float::F32,
            (Some('f'), "8") => Float::F64,
            _ => return None,
        };
        match order {
            Some('<') => Some((float, false)),
            Some('>') => Some((float, true)),
            _ => None,
        }
    }

    /// Bytes per element, when the type string says (`None` for objects and unknown types).
    pub fn size(&self) -> Option<u64> {
        let (_, kind, rest) = self.parts();
        let digits = rest.split('[').next().unwrap_or("");
        let n: u64 = digits.parse().ok()?;
        match kind? {
            'U' => n.checked_mul(4),
            'f' | 'i' | 'u' | 'b' | 'c' | 'S' | 'V' | 'M' | 'm' => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (order, kind, rest) = self.parts();
        let bits = rest.parse::<u32>().ok().and_then(|n| n.checked_mul(8));
        let name = match (kind, bits) {
            (Some('f'), Some(bits)) => format!("float{bits}"),
            (Some('i'), Some(bits)) => format!("int{bits}"),
            (Some('u'), Some(bits)) => format!("uint{bits}"),
            (Some('c'), Some(bits)) => format!("complex{bits}"),
            (Some('b'), Some(8)) => "bool".to_owned(),
            (Some('O'), _) => "object".to_owned(),
            (Some('U'), _) => format!("str{rest} (text)"),
            (Some('S'), _) => format!("bytes{rest}"),
            (Some('V'), _) => format!("void{rest} (raw records)"),
            (Some('M'), _) => format!("datetime64{}", rest.trim_start_matches(char::is_numeric)),
            (Some('m'), _) => format!("timedelta64{}", rest.trim_start_matches(char::is_numeric)),
            _ => return write!(f, "the unknown type '{}'", self.descr),
        };
        let several_bytes = self.size().is_some_and(|n| n > 1);
        match order {
            Some('>') if several_bytes => write!(f, "{name}, big-endian"),
            Some('=') if several_bytes => write!(f, "{name}, in an unknown byte order"),
            _ => f.write_str(&name),
        }
    }
}

/// `"float32 or float64"`, `"float64"`.
pub(crate) fn list_floats(floats: &[Float]) -> String {
    let names: Vec<String> = floats.iter().map(Float::to_string).collect();
    match names.as_slice() {
        [] => "no type".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_type_strings_read_as_numpy_names_them() {
        let cases = [
            ("<f8", "float64"),
            (">f4", "float32, big-endian"),
            ("<i8", "int64"),
            ("|u1", "uint8"),
            ("|b1", "bool"),
            ("<c16", "complex128"),
            ("|O", "object"),
            ("<U3", "str3 (text)"),
            ("|S5", "bytes5"),
            ("|V8", "void8 (raw records)"),
            ("<M8[ns]", "datetime64[ns]"),
            ("=f8", "float64, in an unknown byte order"),
            ("", "the unknown type ''"),
            ("<x9", "the unknown type '<x9'"),
        ];
        for (descr, name) in cases {
            assert_eq!(DType::from_descr(descr).to_string(), name, "{descr}");
        }
    }

    #[test]
    fn only_float32_and_float64_of_a_known_byte_order_are_floats() {
        assert_eq!(DType::from_descr("<f8").float(), Some((Float::F64, false)));
        assert_eq!(DType::from_descr(">f4").float(), Some((Float::F32, true)));
        for descr in ["<f2", "<i8", "|f8", "=f8", "f8", "<f16", "<f"] {
            assert_eq!(DType::from_descr(descr).float(), None, "{descr}");
        }
        assert_eq!(list_floats(&[Float::F32, Float::F64]), "float32 or float64");
    }
}
