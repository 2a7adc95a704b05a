//! The V1/V2 output check: it passes on real runs and catches a wrong result.

use velo_bench::check::check_outputs;
use velo_bench::runner::{
    paced_input, prepare, run_v1, run_v1_paced, run_v2, run_v2_paced, PacedOptions,
};
use velo_bench::SCENARIOS;
use velo_server::processor::Placement;
use velo_types::Value;

fn rows() -> Vec<Vec<Value>> {
    vec![
        vec![Value::str("SYM1"), Value::Int(3), Value::Float(1.5)],
        vec![Value::str("SYM2"), Value::Int(1), Value::Float(2.5)],
        vec![Value::str("SYM2"), Value::Int(1), Value::Float(2.5)],
        vec![Value::str("SYM3"), Value::Null, Value::Float(-0.25)],
    ]
}

#[test]
fn same_rows_in_another_order_pass() {
    let mut candidate = rows();
    candidate.reverse();
    assert_eq!(check_outputs(&rows(), &candidate), Ok(()));
    assert_eq!(check_outputs(&[], &[]), Ok(()));
}

#[test]
fn a_changed_value_is_caught() {
    let mut candidate = rows();
    candidate[0][2] = Value::Float(1.5000001);
    let m = check_outputs(&rows(), &candidate).unwrap_err();
    assert_eq!((m.missing, m.extra), (1, 1));
    assert_eq!(m.missing_examples, vec![rows()[0].clone()]);
    assert_eq!(m.extra_examples, vec![candidate[0].clone()]);
    let text = m.to_string();
    assert!(
        text.contains("1 expected row(s) missing, 1 unexpected row(s)"),
        "{text}"
    );
}

#[test]
fn a_missing_row_is_caught() {
    let mut candidate = rows();
    candidate.remove(3);
    let m = check_outputs(&rows(), &candidate).unwrap_err();
    assert_eq!((m.reference_rows, m.candidate_rows), (4, 3));
    assert_eq!((m.missing, m.extra), (1, 0));
    assert_eq!(m.missing_examples, vec![rows()[3].clone()]);
}

#[test]
fn a_duplicated_row_is_caught() {
    let mut candidate = rows();
    candidate.push(rows()[0].clone());
    let m = check_outputs(&rows(), &candidate).unwrap_err();
    assert_eq!((m.missing, m.extra), (0, 1));
}

#[test]
fn multiplicity_counts_not_just_membership() {
    // Same distinct rows, same length, different multiplicities.
    let mut candidate = rows();
    candidate[2] = rows()[0].clone();
    let m = check_outputs(&rows(), &candidate).unwrap_err();
    assert_eq!((m.missing, m.extra), (1, 1));
}

#[test]
fn real_v1_and_v2_outputs_agree_and_a_tampered_one_fails() {
    for s in SCENARIOS {
        let p = prepare(s, 20_000, 512).unwrap();
        let reference = run_v1(&p, true).unwrap().rows.unwrap();
        assert!(!reference.is_empty(), "scenario {}", s.id);
        for n in [1, 2, 3] {
            for placement in [Placement::Dedicated, Placement::Compact] {
                let got = run_v2(&p, n, placement, true).unwrap().rows.unwrap();
                if let Err(m) = check_outputs(&reference, &got) {
                    panic!("scenario {} V2@{n} {}: {m}", s.id, placement.name());
                }
            }
        }
        // Deliberately wrong: one value of V2's output changed.
        let mut wrong = run_v2(&p, 2, Placement::Auto, true).unwrap().rows.unwrap();
        let last = wrong.len() / 2;
        let col = wrong[last].len() - 1;
        wrong[last][col] = match &wrong[last][col] {
            Value::Int(i) => Value::Int(i + 1),
            Value::Float(f) => Value::Float(f + 1.0),
            _ => Value::Null,
        };
        assert!(
            check_outputs(&reference, &wrong).is_err(),
            "scenario {}",
            s.id
        );
        // And one row dropped.
        let mut short = run_v2(&p, 2, Placement::Auto, true).unwrap().rows.unwrap();
        short.pop();
        assert!(check_outputs(&reference, &short).is_err());
    }
}

#[test]
fn paced_runs_measure_every_producing_message() {
    for s in SCENARIOS {
        let p = prepare(s, 20_000, 500).unwrap();
        let reference = run_v1(&p, false).unwrap();
        let expected = reference.rows_per_message.unwrap();
        let o = PacedOptions {
            rate: 5_000_000.0,
            records: 10_000,
            warmup_batches: 2,
            spin: velo_bench::latency::SPIN_BELOW,
            placement: Placement::Dedicated,
        };
        let (input, records) = paced_input(&p, o.records);
        assert_eq!(records, 10_000);
        let producing = expected[..input.len() - 1]
            .iter()
            .filter(|&&e| e > 0)
            .count();
        let v1 = run_v1_paced(&p, &o).unwrap();
        let v2 = run_v2_paced(&p, 2, &o).unwrap();
        let compact = PacedOptions {
            placement: Placement::Compact,
            ..o.clone()
        };
        let v2_compact = run_v2_paced(&p, 2, &compact).unwrap();
        assert!(
            v1.exact && v2.exact && v2_compact.exact,
            "scenario {}",
            s.id
        );
        assert_eq!(v1.batches, 20);
        assert_eq!(v2.batches, 20);
        assert_eq!(v2_compact.batches, 20);
        for run in [&v1, &v2, &v2_compact] {
            // The warm-up batches (and their watermarks) are not measured.
            assert!(
                run.samples.len() >= producing.saturating_sub(4) && run.samples.len() <= producing,
                "scenario {}: {} samples, {producing} producing messages",
                s.id,
                run.samples.len()
            );
            assert!(run.samples.iter().all(|&(_, w)| w > 0));
        }
        assert_eq!(v1.rows_out, v2.rows_out, "scenario {}", s.id);
    }
}

/// Scenario 5's join emits exactly the pairs computed from the generator's
/// formula (`interval::expected_pairs`), on V1 and on V2.
#[test]
fn scenario_5_emits_the_pairs_computed_from_its_inputs() {
    let s = SCENARIOS.iter().find(|s| s.id == "5").unwrap();
    let p = prepare(s, 60_000, 700).unwrap();
    let expected = velo_bench::interval::expected_pairs(60_000);
    assert!(expected > 0);
    assert_eq!(run_v1(&p, false).unwrap().rows_out, expected);
    assert_eq!(
        run_v2(&p, 2, Placement::Auto, false).unwrap().rows_out,
        expected
    );
}
