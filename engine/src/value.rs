//! Column types, values, and the row encoding.
//!
//! A row is encoded as: column count (u16), a null bitmap of `ceil(count / 8)` bytes (bit
//! `i % 8` of byte `i / 8` set means column `i` is NULL), then each non-null value in
//! column order: INT64 and FLOAT64 as 8 bytes little endian, BOOL as one byte (0 or 1),
//! TEXT and BYTES as a u32 length and the bytes. The count lets a row written before an
//! `ADD COLUMN` decode under the new definition: missing trailing columns are NULL.

use std::fmt;

use crate::codec::{Reader, Truncated};

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ColumnType {
    Int64,
    Float64,
    Bool,
    Text,
    Bytes,
}

impl ColumnType {
    /// The code stored in `catalog_columns`.
    pub fn code(self) -> i64 {
        match self {
            ColumnType::Int64 => 1,
            ColumnType::Float64 => 2,
            ColumnType::Bool => 3,
            ColumnType::Text => 4,
            ColumnType::Bytes => 5,
        }
    }

    pub fn from_code(code: i64) -> Option<ColumnType> {
        Some(match code {
            1 => ColumnType::Int64,
            2 => ColumnType::Float64,
            3 => ColumnType::Bool,
            4 => ColumnType::Text,
            5 => ColumnType::Bytes,
            _ => return None,
        })
    }

    /// The SQL name (PostgreSQL's spelling).
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnType::Int64 => "BIGINT",
            ColumnType::Float64 => "DOUBLE PRECISION",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::Text => "TEXT",
            ColumnType::Bytes => "BYTEA",
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnType::Int64 => "INT64",
            ColumnType::Float64 => "FLOAT64",
            ColumnType::Bool => "BOOL",
            ColumnType::Text => "TEXT",
            ColumnType::Bytes => "BYTES",
        })
    }
}

/// A value of a column.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int64(i64),
    Float64(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

impl Value {
    /// The type of a non-null value.
    pub fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Null => return None,
            Value::Int64(_) => ColumnType::Int64,
            Value::Float64(_) => ColumnType::Float64,
            Value::Bool(_) => ColumnType::Bool,
            Value::Text(_) => ColumnType::Text,
            Value::Bytes(_) => ColumnType::Bytes,
        })
    }

    /// The type name for messages ("NULL" for null).
    pub fn type_name(&self) -> String {
        self.column_type()
            .map_or_else(|| "NULL".to_string(), |t| t.to_string())
    }

    /// Bitwise equality: unlike `==`, NaN equals NaN and 0.0 differs from -0.0, which is
    /// what "the bytes came back unchanged" means.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float64(a), Value::Float64(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// Encodes a row of values (already checked against the column types).
pub fn encode_row<V: std::borrow::Borrow<Value>>(values: &[V], out: &mut Vec<u8>) {
    assert!(values.len() <= u16::MAX as usize);
    out.extend_from_slice(&(values.len() as u16).to_le_bytes());
    let bitmap_start = out.len();
    out.resize(bitmap_start + values.len().div_ceil(8), 0);
    for (i, value) in values.iter().enumerate() {
        match value.borrow() {
            Value::Null => out[bitmap_start + i / 8] |= 1 << (i % 8),
            Value::Int64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Float64(v) => out.extend_from_slice(&v.to_bits().to_le_bytes()),
            Value::Bool(v) => out.push(u8::from(*v)),
            Value::Text(s) => put_bytes(out, s.as_bytes()),
            Value::Bytes(b) => put_bytes(out, b),
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    assert!(bytes.len() <= u32::MAX as usize);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The encoded size of a row, without encoding it.
pub fn encoded_row_len<V: std::borrow::Borrow<Value>>(values: &[V]) -> usize {
    let fixed = 2 + values.len().div_ceil(8);
    fixed
        + values
            .iter()
            .map(|v| match v.borrow() {
                Value::Null => 0,
                Value::Int64(_) | Value::Float64(_) => 8,
                Value::Bool(_) => 1,
                Value::Text(s) => 4 + s.len(),
                Value::Bytes(b) => 4 + b.len(),
            })
            .sum::<usize>()
}

/// Why row bytes did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowDecodeError(pub String);

impl From<Truncated> for RowDecodeError {
    fn from(t: Truncated) -> Self {
        RowDecodeError(format!(
            "row truncated at byte {} (wanted {} more)",
            t.position, t.wanted
        ))
    }
}

/// Decodes a row for columns of `types` (every column the table ever had, in position
/// order; the caller hides dropped ones). Never panics on any input.
pub fn decode_row(bytes: &[u8], types: &[ColumnType]) -> Result<Vec<Value>, RowDecodeError> {
    let mut r = Reader::new(bytes);
    let stored = r.u16()? as usize;
    if stored > types.len() {
        return Err(RowDecodeError(format!(
            "row has {stored} columns, the table {}",
            types.len()
        )));
    }
    let bitmap = r.take(stored.div_ceil(8))?;
    let mut values = Vec::with_capacity(types.len());
    for (i, &column_type) in types.iter().enumerate().take(stored) {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            values.push(Value::Null);
        } else {
            values.push(decode_value(&mut r, column_type)?);
        }
    }
    if r.remaining() != 0 {
        return Err(RowDecodeError(format!(
            "{} trailing bytes after the row",
            r.remaining()
        )));
    }
    values.resize(types.len(), Value::Null);
    Ok(values)
}

fn decode_value(r: &mut Reader<'_>, t: ColumnType) -> Result<Value, RowDecodeError> {
    Ok(match t {
        ColumnType::Int64 => Value::Int64(r.i64()?),
        ColumnType::Float64 => Value::Float64(f64::from_bits(r.u64()?)),
        ColumnType::Bool => match r.u8()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(RowDecodeError(format!("bool byte {b}"))),
        },
        ColumnType::Text => {
            let b = r.bytes_u32()?;
            Value::Text(
                String::from_utf8(b.to_vec())
                    .map_err(|_| RowDecodeError("text is not UTF-8".into()))?,
            )
        }
        ColumnType::Bytes => Value::Bytes(r.bytes_u32()?.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value_strategy() -> impl Strategy<Value = (ColumnType, Value)> {
        prop_oneof![
            Just((ColumnType::Int64, Value::Null)),
            any::<i64>().prop_map(|v| (ColumnType::Int64, Value::Int64(v))),
            any::<f64>().prop_map(|v| (ColumnType::Float64, Value::Float64(v))),
            any::<bool>().prop_map(|v| (ColumnType::Bool, Value::Bool(v))),
            ".*".prop_map(|v| (ColumnType::Text, Value::Text(v))),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|v| (ColumnType::Bytes, Value::Bytes(v))),
        ]
    }

    proptest! {
        #[test]
        fn rows_round_trip(cols in proptest::collection::vec(value_strategy(), 0..20)) {
            let types: Vec<ColumnType> = cols.iter().map(|(t, _)| *t).collect();
            let values: Vec<Value> = cols.into_iter().map(|(_, v)| v).collect();
            let mut bytes = Vec::new();
            encode_row(&values, &mut bytes);
            prop_assert_eq!(bytes.len(), encoded_row_len(&values));
            let back = decode_row(&bytes, &types).unwrap();
            prop_assert!(back.iter().zip(&values).all(|(a, b)| a.same_as(b)));
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let types = [ColumnType::Text, ColumnType::Int64, ColumnType::Bool];
            let _ = decode_row(&bytes, &types);
        }
    }

    #[test]
    fn rows_written_before_add_column_read_nulls() {
        let mut bytes = Vec::new();
        encode_row(&[Value::Int64(1)], &mut bytes);
        let back = decode_row(&bytes, &[ColumnType::Int64, ColumnType::Text]).unwrap();
        assert_eq!(back, vec![Value::Int64(1), Value::Null]);
    }
}
