//! The V1/V2 output check: V2 must produce exactly V1's rows, as a multiset (the
//! order of rows across partitions is free, their values and multiplicities are not).

use std::collections::HashMap;
use std::fmt;

use velo_types::Value;

/// Examples of each kind of difference kept in a [`Mismatch`].
const EXAMPLES: usize = 3;

/// How a candidate output differs from the reference, as multisets of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub reference_rows: usize,
    pub candidate_rows: usize,
    /// Rows (counted with multiplicity) the reference has more often than the candidate.
    pub missing: usize,
    /// Rows (counted with multiplicity) the candidate has more often than the reference.
    pub extra: usize,
    /// A few of the missing rows, in a canonical order.
    pub missing_examples: Vec<Vec<Value>>,
    /// A few of the extra rows, in a canonical order.
    pub extra_examples: Vec<Vec<Value>>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows vs {} expected; {} expected row(s) missing, {} unexpected row(s)",
            self.candidate_rows, self.reference_rows, self.missing, self.extra
        )?;
        for (what, rows) in [
            ("missing", &self.missing_examples),
            ("unexpected", &self.extra_examples),
        ] {
            for r in rows {
                write!(f, "\n  {what}: {}", render(r))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Mismatch {}

fn render(row: &[Value]) -> String {
    let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
    format!("({})", cells.join(", "))
}

/// `Ok` when `candidate` holds exactly `reference`'s rows, each as many times, in
/// any order. Rows are compared with `Value`'s `Eq` (floats by their canonical bits:
/// the same computation on the same rows must give the same bits).
pub fn check_outputs(reference: &[Vec<Value>], candidate: &[Vec<Value>]) -> Result<(), Mismatch> {
    let mut counts: HashMap<&[Value], i64> = HashMap::with_capacity(reference.len());
    for r in reference {
        *counts.entry(r.as_slice()).or_default() += 1;
    }
    for r in candidate {
        *counts.entry(r.as_slice()).or_default() -= 1;
    }
    let (mut missing, mut extra) = (0usize, 0usize);
    let mut missing_rows = Vec::new();
    let mut extra_rows = Vec::new();
    for (row, n) in counts {
        if n > 0 {
            missing += n as usize;
            missing_rows.push(row);
        } else if n < 0 {
            extra += n.unsigned_abs() as usize;
            extra_rows.push(row);
        }
    }
    if missing == 0 && extra == 0 {
        return Ok(());
    }
    let examples = |mut rows: Vec<&[Value]>| {
        rows.sort_by(|a, b| compare_rows(a, b));
        rows.into_iter()
            .take(EXAMPLES)
            .map(<[Value]>::to_vec)
            .collect()
    };
    Err(Mismatch {
        reference_rows: reference.len(),
        candidate_rows: candidate.len(),
        missing,
        extra,
        missing_examples: examples(missing_rows),
        extra_examples: examples(extra_rows),
    })
}

/// A total order on rows (column by column, [`Value::total_cmp`]).
pub fn compare_rows(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}
