//! latency.svg and rate.svg: the performance pictures of a run, drawn as Jepsen's perf checker
//! draws them (part of "report", after "check"), with the nemesis fault windows shaded.
//!
//! Latency: one point per completed client operation at its invocation time, its latency on a
//! log scale, coloured by operation name (`f`) and shaped by outcome (ok ●, fail ✕, info ▲).
//! Rate: completed operations per second over time, one line per `f` and outcome. Both need
//! recorded times; a history without them gets no plots. Plotters' SVG backend only.

use super::source::Source;
use anyhow::{anyhow, Result};
use checkers::history::Outcome;
use checkers::perf::Window;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// Most points drawn in latency.svg; past it every n-th point is drawn (said in the title).
const MAX_POINTS: usize = 20_000;

/// Colours of the operation names, in order of first appearance.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The fault windows' shade.
const SHADE: RGBColor = RGBColor(144, 164, 174);

/// One completed client operation: start (s since the first op), latency (ms), its `f` (an
/// index into the names), outcome.
struct Sample {
    at: f64,
    latency: f64,
    f: u16,
    outcome: Outcome,
}

impl Sample {
    /// The series it is drawn in: its operation's name and its outcome.
    fn series(&self, names: &[&str]) -> (String, &'static str) {
        let f = names.get(usize::from(self.f)).copied().unwrap_or_default();
        (f.to_string(), outcome_name(self.outcome))
    }
}

/// The two SVG documents `(latency, rate)`, or `None` when the history has no times.
pub fn render(ops: &Source, windows: &[Window]) -> Result<Option<(String, String)>> {
    let origin = match ops.views().filter_map(|o| o.invoke_time).min() {
        Some(t) => t,
        None => return Ok(None),
    };
    let secs = |t: i64| (t - origin) as f64 / 1e9;
    // Operation names in order of first appearance (their colours).
    let mut names: Vec<&str> = Vec::new();
    let samples: Vec<Sample> = ops
        .views()
        .filter(|o| o.client)
        .filter_map(|o| {
            let (start, end) = (o.invoke_time?, o.complete_time?);
            let f = o.f.unwrap_or_default();
            let f = match names.iter().position(|n| *n == f) {
                Some(i) => i,
                None => {
                    names.push(f);
                    names.len() - 1
                }
            };
            Some(Sample {
                at: secs(start),
                latency: ((end - start) as f64 / 1e6).max(1e-3),
                f: u16::try_from(f).unwrap_or(u16::MAX),
                outcome: o.outcome,
            })
        })
        .collect();
    if samples.is_empty() {
        return Ok(None);
    }
    let end = ops
        .views()
        .filter_map(|o| o.complete_time.or(o.invoke_time))
        .max()
        .map(secs)
        .unwrap_or(1.0)
        .max(1e-3);
    let windows: Vec<(f64, f64, &str)> = windows
        .iter()
        .map(|w| (secs(w.start), secs(w.end), w.kind))
        .collect();
    let colour = |f: &str| PALETTE[names.iter().position(|n| *n == f).unwrap_or(0) % PALETTE.len()];
    Ok(Some((
        latency(&samples, end, &windows, &names, &colour)?,
        rate(&samples, end, &windows, &names, &colour)?,
    )))
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e:?}")
}

/// The outcome's name, for legends.
fn outcome_name(o: Outcome) -> &'static str {
    o.name()
}

/// latency.svg.
fn latency(
    samples: &[Sample],
    end: f64,
    windows: &[(f64, f64, &str)],
    names: &[&str],
    colour: &dyn Fn(&str) -> RGBColor,
) -> Result<String> {
    let step = samples.len().div_ceil(MAX_POINTS).max(1);
    let (lo, hi) = samples.iter().fold((f64::MAX, f64::MIN), |(lo, hi), s| {
        (lo.min(s.latency), hi.max(s.latency))
    });
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let title = if step > 1 {
            format!("latency (every {step}th operation of {})", samples.len())
        } else {
            "latency".to_string()
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..end, (lo..hi).log_scale())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("latency (ms)")
            .light_line_style(RGBColor(242, 242, 242))
            .draw()
            .map_err(plot_error)?;
        shade(&mut chart, windows, lo, hi)?;
        let mut series: BTreeMap<(String, &'static str), Vec<&Sample>> = BTreeMap::new();
        for s in samples.iter().step_by(step) {
            series.entry(s.series(names)).or_default().push(s);
        }
        for ((f, outcome), points) in series {
            let c = colour(&f);
            let label = format!("{f} {outcome}");
            let drawn = match outcome {
                "ok" => chart.draw_series(
                    points
                        .iter()
                        .map(|s| Circle::new((s.at, s.latency), 2, c.filled()).into_dyn()),
                ),
                "fail" => chart.draw_series(
                    points
                        .iter()
                        .map(|s| Cross::new((s.at, s.latency), 3, c.stroke_width(1)).into_dyn()),
                ),
                _ => chart.draw_series(
                    points
                        .iter()
                        .map(|s| TriangleMarker::new((s.at, s.latency), 3, c.filled()).into_dyn()),
                ),
            }
            .map_err(plot_error)?;
            drawn.label(label).legend(move |(x, y)| match outcome {
                "ok" => Circle::new((x, y), 3, c.filled()).into_dyn(),
                "fail" => Cross::new((x, y), 3, c.stroke_width(1)).into_dyn(),
                _ => TriangleMarker::new((x, y), 3, c.filled()).into_dyn(),
            });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// rate.svg.
fn rate(
    samples: &[Sample],
    end: f64,
    windows: &[(f64, f64, &str)],
    names: &[&str],
    colour: &dyn Fn(&str) -> RGBColor,
) -> Result<String> {
    // About 100 buckets, at least 10 ms each.
    let bucket = (end / 100.0).max(0.01);
    let n = (end / bucket).ceil() as usize + 1;
    let mut series: BTreeMap<(String, &'static str), Vec<f64>> = BTreeMap::new();
    for s in samples {
        let counts = series
            .entry(s.series(names))
            .or_insert_with(|| vec![0.0; n]);
        let i = ((s.at / bucket) as usize).min(n - 1);
        counts[i] += 1.0 / bucket;
    }
    let top = series
        .values()
        .flat_map(|v| v.iter().copied())
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("throughput", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..end, 0f64..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc("operations / s")
            .light_line_style(RGBColor(242, 242, 242))
            .draw()
            .map_err(plot_error)?;
        for &(a, b, _) in windows {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(a, 0.0), (b.max(a), top)],
                    SHADE.mix(0.3).filled(),
                )))
                .map_err(plot_error)?;
        }
        for ((f, outcome), counts) in series {
            let c = colour(&f);
            let style = match outcome {
                "ok" => c.stroke_width(2),
                _ => c.mix(0.6).stroke_width(1),
            };
            chart
                .draw_series(LineSeries::new(
                    counts
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ((i as f64 + 0.5) * bucket, *v)),
                    style,
                ))
                .map_err(plot_error)?
                .label(format!("{f} {outcome}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Shades the fault windows on a log-scaled latency chart.
fn shade<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<
            plotters::coord::types::RangedCoordf64,
            plotters::coord::combinators::LogCoord<f64>,
        >,
    >,
    windows: &[(f64, f64, &str)],
    lo: f64,
    hi: f64,
) -> Result<()> {
    for &(a, b, _) in windows {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, lo), (b.max(a), hi)],
                SHADE.mix(0.3).filled(),
            )))
            .map_err(|e| anyhow!("cannot draw the plot: {e:?}"))?;
    }
    Ok(())
}
