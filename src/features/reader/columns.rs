//! Arrow columns and Parquet files as lrx reads them: strings, integers and floats in
//! whatever encoding a writer chose (plain, large, view, dictionary), a required column,
//! a whole file with its key-value metadata, and the schema version check.

use super::*;

/// A decoded string column (lrx writes Utf8; other writers may use large/view/dictionary strings).
pub(super) fn strings(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<String>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    let get = |i: usize, v: Option<&str>| v.map(str::to_string).ok_or_else(|| null(i));
    macro_rules! collect {
        ($arr:expr) => {
            $arr.iter().enumerate().map(|(i, v)| get(i, v)).collect()
        };
    }
    match col.data_type() {
        DataType::Utf8 => collect!(col.as_any().downcast_ref::<StringArray>().unwrap()),
        DataType::LargeUtf8 => collect!(col.as_any().downcast_ref::<LargeStringArray>().unwrap()),
        DataType::Utf8View => collect!(col.as_any().downcast_ref::<StringViewArray>().unwrap()),
        DataType::Dictionary(k, _) => {
            let (keys, values): (Vec<Option<usize>>, ArrayRef) = match k.as_ref() {
                DataType::Int8 => dict_parts::<Int8Type>(col),
                DataType::Int16 => dict_parts::<Int16Type>(col),
                DataType::Int32 => dict_parts::<Int32Type>(col),
                DataType::Int64 => dict_parts::<Int64Type>(col),
                DataType::UInt8 => dict_parts::<UInt8Type>(col),
                DataType::UInt16 => dict_parts::<UInt16Type>(col),
                DataType::UInt32 => dict_parts::<UInt32Type>(col),
                other => {
                    return Err(ReadError::ColumnType {
                        path: path.to_path_buf(),
                        column: column.into(),
                        found: DataType::Dictionary(
                            Box::new(other.clone()),
                            Box::new(DataType::Utf8),
                        ),
                        expected: "string",
                    });
                }
            };
            let vals = strings(&values, path, column)?;
            keys.into_iter()
                .enumerate()
                .map(|(i, k)| k.map(|k| vals[k].clone()).ok_or_else(|| null(i)))
                .collect()
        }
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "string",
        }),
    }
}

pub(super) fn arrow_buffer_native_usize<T: arrow_array::ArrowNativeTypeOp>(k: T) -> usize {
    k.as_usize()
}

pub(super) fn dict_parts<K: arrow_array::types::ArrowDictionaryKeyType>(
    col: &ArrayRef,
) -> (Vec<Option<usize>>, ArrayRef) {
    let d = col.as_dictionary::<K>();
    let keys = d
        .keys()
        .iter()
        .map(|k| k.map(arrow_buffer_native_usize))
        .collect();
    (keys, d.values().clone())
}

pub(super) fn ints(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<i64>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    match col.data_type() {
        DataType::Int64 => col
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| null(i)))
            .collect(),
        DataType::Int32 => col
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(i64::from).ok_or_else(|| null(i)))
            .collect(),
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "int32 or int64",
        }),
    }
}

pub(super) fn floats(col: &ArrayRef, path: &Path, column: &str) -> Result<Vec<f64>, ReadError> {
    let null = |row| ReadError::Null {
        path: path.to_path_buf(),
        column: column.into(),
        row,
    };
    match col.data_type() {
        DataType::Float64 => col
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| null(i)))
            .collect(),
        DataType::Float32 => col
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, v)| v.map(f64::from).ok_or_else(|| null(i)))
            .collect(),
        other => Err(ReadError::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            found: other.clone(),
            expected: "float64",
        }),
    }
}

pub(super) fn column<'a>(
    b: &'a RecordBatch,
    name: &str,
    path: &Path,
) -> Result<&'a ArrayRef, ReadError> {
    b.column_by_name(name)
        .ok_or_else(|| ReadError::MissingColumn {
            path: path.to_path_buf(),
            column: name.into(),
        })
}

/// A Parquet file's batches and key-value metadata.
pub(crate) fn read_parquet(
    path: &Path,
) -> Result<(Vec<RecordBatch>, BTreeMap<String, String>), ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.into(),
        source,
    })?;
    let pq = |source| ReadError::Parquet {
        path: path.into(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let kv: BTreeMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v)))
                .collect()
        })
        .unwrap_or_default();
    let reader = builder.build().map_err(pq)?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ReadError::Arrow {
            path: path.into(),
            source,
        })?;
    Ok((batches, kv))
}

pub(super) fn check_schema_version(
    path: &Path,
    kv: &BTreeMap<String, String>,
) -> Result<(), ReadError> {
    match kv.get("schema_version") {
        Some(v) if v == &SCHEMA_VERSION.to_string() => Ok(()),
        Some(v) => Err(ReadError::SchemaVersion {
            path: path.into(),
            found: v.clone(),
            expected: SCHEMA_VERSION,
        }),
        // Files written by other tools may lack lrx metadata; their columns are still checked.
        None => Ok(()),
    }
}
