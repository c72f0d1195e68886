//! Small statistics (a fixture of `codefill eval fim`).

/// The mean of the values, or None when there are none.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let total: f64 = values.iter().sum();
    Some(total / values.len() as f64)
}

pub fn variance(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    let mut acc = 0.0;
    for v in values {
        let d = v - m;
        acc += d * d;
    }
    Some(acc / values.len() as f64)
}

pub struct Summary {
    pub count: usize,
    pub mean: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Self {
        let count = values.len();
        let mean = mean(values).unwrap_or(0.0);
        Summary { count, mean }
    }
}
