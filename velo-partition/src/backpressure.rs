use std::fmt;

/// A partition queue's health, from its utilisation (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackpressureState {
    /// Below 70 % full.
    Healthy,
    /// 70 % to 85 %.
    Warning,
    /// 85 % to 95 %.
    Critical,
    /// 95 % and above.
    Saturated,
}

impl BackpressureState {
    /// Classifies a queue holding `depth` of `capacity` items.
    pub fn from_depth(depth: usize, capacity: usize) -> BackpressureState {
        if capacity == 0 {
            return BackpressureState::Saturated;
        }
        Self::from_utilisation(depth as f64 / capacity as f64)
    }

    /// The state as a number for a gauge: 0 healthy, 1 warning, 2 critical,
    /// 3 saturated.
    pub fn level(self) -> u8 {
        match self {
            BackpressureState::Healthy => 0,
            BackpressureState::Warning => 1,
            BackpressureState::Critical => 2,
            BackpressureState::Saturated => 3,
        }
    }

    /// Classifies a utilisation in 0.0..=1.0.
    pub fn from_utilisation(u: f64) -> BackpressureState {
        if u < 0.70 {
            BackpressureState::Healthy
        } else if u < 0.85 {
            BackpressureState::Warning
        } else if u < 0.95 {
            BackpressureState::Critical
        } else {
            BackpressureState::Saturated
        }
    }
}

impl fmt::Display for BackpressureState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackpressureState::Healthy => "healthy",
            BackpressureState::Warning => "warning",
            BackpressureState::Critical => "critical",
            BackpressureState::Saturated => "saturated",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_the_spec() {
        use BackpressureState::*;
        assert_eq!(BackpressureState::from_depth(69, 100), Healthy);
        assert_eq!(BackpressureState::from_depth(70, 100), Warning);
        assert_eq!(BackpressureState::from_depth(84, 100), Warning);
        assert_eq!(BackpressureState::from_depth(85, 100), Critical);
        assert_eq!(BackpressureState::from_depth(94, 100), Critical);
        assert_eq!(BackpressureState::from_depth(95, 100), Saturated);
        assert_eq!(BackpressureState::from_depth(1, 0), Saturated);
    }
}
