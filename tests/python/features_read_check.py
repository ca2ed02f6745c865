"""Read lrx Parquet files with pyarrow AND polars, print what they see as JSON (for
src/features/reader tests).

Usage: features_read_check.py STUDY_DIR FEATURE_FILE
Prints {"pyarrow": {...}, "polars": {...}, "dataset": {...}, "runs": {...}}.
Floats are IEEE bits (u64) so NaN/inf and every bit compare exactly.
"""
import json
import struct
import sys

import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def main():
    study, path = sys.argv[1], sys.argv[2]
    f = pq.ParquetFile(path)
    t = f.read()
    md = f.metadata
    encodings = {}
    compression = set()
    for rg in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(rg).column(c)
            encodings.setdefault(col.path_in_schema, set()).update(col.encodings)
            compression.add(col.compression)
    kv = {k.decode(): v.decode() for k, v in (md.metadata or {}).items() if k != b"ARROW:schema"}
    d = t.to_pydict()
    out = {
        "pyarrow": {
            "names": t.schema.names,
            "types": [str(ty) for ty in t.schema.types],
            "num_rows": t.num_rows,
            "num_row_groups": md.num_row_groups,
            "metadata": kv,
            "encodings": {k: sorted(v) for k, v in encodings.items()},
            "compression": sorted(compression),
            "strings": {c: d[c] for c in ["run_id", "layer", "layer_position", "measure", "function", "statistic", "observable"]},
            "ints": {c: d[c] for c in ["epoch", "layer_index", "realism_seed"]},
            "floats": {c: [bits(v) for v in d[c]] for c in ["noise_sigma", "unit_fraction", "value"]},
        }
    }
    p = pl.read_parquet(path)
    out["polars"] = {
        "names": p.columns,
        "dtypes": [str(x) for x in p.dtypes],
        "num_rows": p.height,
        "observable": p["observable"].to_list(),
        "value": [bits(v) for v in p["value"].to_list()],
        "epoch": p["epoch"].to_list(),
    }
    dset = ds.dataset(f"{study}/features", format="parquet", partitioning="hive")
    dt = dset.to_table()
    lz = pl.scan_parquet(f"{study}/features/**/*.parquet", hive_partitioning=True).collect()
    out["dataset"] = {
        "pyarrow_rows": dt.num_rows,
        "pyarrow_rules": sorted(set(dt.column("rule").to_pylist())),
        "pyarrow_runs": sorted(set(dt.column("run").to_pylist())),
        "polars_rows": lz.height,
        "polars_rules": sorted(set(lz["rule"].to_list())),
    }
    r = pl.read_parquet(f"{study}/runs.parquet")
    out["runs"] = {
        "names": r.columns,
        "dtypes": [str(x) for x in r.dtypes],
        "rows": [{k: (bits(v) if isinstance(v, float) else v) for k, v in row.items()} for row in r.to_dicts()],
        "metadata": {k.decode(): v.decode() for k, v in (pq.ParquetFile(f"{study}/runs.parquet").metadata.metadata or {}).items() if k != b"ARROW:schema"},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
