//! Warm starts: named control values (the `best_controls.ron` that
//! `ductile optimize` writes, or a file in the same form written by hand)
//! that replace a task's initial guesses, entry by entry.

use crate::{OptError, Params};
use std::collections::BTreeMap;

/// Named initial values read from a file, each with the line it is on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WarmStart {
    /// The file, for messages.
    pub label: String,
    /// (control name, value, 1-based line) in file order.
    pub values: Vec<(String, f64, usize)>,
}

impl WarmStart {
    /// Parses a RON map of control names to values,
    /// `{ "tool0.v[0].x": 0.5, ... }`; `label` names the file in errors.
    pub fn parse(text: &str, label: &str) -> Result<WarmStart, OptError> {
        let map: BTreeMap<String, f64> = ron::from_str(text).map_err(|e| {
            OptError::Other(format!(
                "{label}:{}:{}: {} (expected a map of control names to numbers, as `ductile optimize` writes to best_controls.ron)",
                e.span.start.line, e.span.start.col, e.code
            ))
        })?;
        let mut values: Vec<(String, f64, usize)> = map
            .into_iter()
            .map(|(name, v)| {
                let key = format!("\"{name}\"");
                let line = text
                    .lines()
                    .position(|l| l.contains(&key))
                    .map_or(0, |i| i + 1);
                (name, v, line)
            })
            .collect();
        values.sort_by_key(|&(_, _, line)| line);
        Ok(WarmStart {
            label: label.to_string(),
            values,
        })
    }

    /// Replaces the entries of θ that it names (the others keep the task's
    /// initial guess), also as the values that masked and frozen entries
    /// keep. Refuses a name the task has no control of, and a value outside
    /// the control's bounds, with the file, line, name, value and what is
    /// allowed; θ is unchanged then.
    pub fn apply(&self, params: &mut Params, theta: &mut [f64]) -> Result<usize, OptError> {
        let mut updates = Vec::with_capacity(self.values.len());
        for (name, v, line) in &self.values {
            let at = format!("{}:{line}: `{name}` = {v}", self.label);
            let Some(i) = params.names.iter().position(|n| n == name) else {
                let n = params.names.len();
                let shown = match n {
                    0 => "none".to_string(),
                    1..=6 => params.names.join(", "),
                    _ => format!("{} … {}, {n} in all", params.names[0], params.names[n - 1]),
                };
                return Err(OptError::Other(format!(
                    "{at}: not a control of this task (its controls: {shown})"
                )));
            };
            let (lo, hi) = (params.lo[i], params.hi[i]);
            if !(v.is_finite() && *v >= lo && *v <= hi) {
                return Err(OptError::Other(format!(
                    "{at}: must be in [{lo}, {hi}] (the control's bounds in the task)"
                )));
            }
            updates.push((i, *v));
        }
        for &(i, v) in &updates {
            theta[i] = v;
            params.theta0[i] = v;
        }
        Ok(updates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_values_and_lines() {
        let w = WarmStart::parse(
            "// comment\n{\n    \"b\": 2e0,\n    \"a\": -0.5,\n}\n",
            "best.ron",
        )
        .unwrap();
        assert_eq!(
            w.values,
            vec![("b".to_string(), 2.0, 3), ("a".to_string(), -0.5, 4)]
        );
        let e = WarmStart::parse("{ \"a\": x }", "best.ron")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("best.ron:1:"), "{e}");
    }
}
