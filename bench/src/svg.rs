//! A hand-written SVG chart: two panels of grouped bars, req/s on top and p99 latency
//! (with a p50 tick) below; one group per load level, one colour per target.

use std::fmt::Write as _;

use crate::report::{Report, ms, rate};

const WIDTH: f64 = 820.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL_H: f64 = 200.0;
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round axis maximum and its step (1, 2 or 5 times a power of ten), about 5 ticks.
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn tick_label(v: f64) -> String {
    if v >= 1000.0 && v % 1000.0 == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

struct Panel<'a> {
    title: &'a str,
    top: f64,
    max: f64,
}

impl Panel<'_> {
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL_H - v / self.max * PANEL_H
    }

    fn axes(&self, out: &mut String, step: f64) {
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{}" class="title">{}</text>"#,
            self.top - 10.0,
            esc(self.title)
        );
        let mut v = 0.0;
        while v <= self.max + step / 2.0 {
            let y = self.y(v);
            let _ = writeln!(
                out,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                tick_label(v)
            );
            v += step;
        }
    }
}

pub fn render(report: &Report) -> String {
    let targets: Vec<&str> = report
        .settings
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut groups: Vec<&str> = Vec::new();
    for r in &report.results {
        if !groups.contains(&r.label.as_str()) {
            groups.push(&r.label);
        }
    }
    let height = 60.0 + 2.0 * (PANEL_H + 70.0) + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    out.push_str(
        "<style>.title{font-size:14px;font-weight:bold}.tick{font-size:10px;text-anchor:end;fill:#555}\
         .grid{stroke:#ddd;stroke-width:1}.group{font-size:11px;text-anchor:middle}\
         .value{font-size:9px;text-anchor:middle;fill:#333}.legend{font-size:12px}</style>\n",
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#fff"/>"##);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" class="title">bench {}</text>"#,
        report.settings.mode.name()
    );
    let mut x = LEFT;
    for (i, t) in targets.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="30" width="12" height="12" fill="{}"/><text x="{:.1}" y="41" class="legend">{}</text>"#,
            PALETTE[i % PALETTE.len()],
            x + 16.0,
            esc(t)
        );
        x += 30.0 + 7.5 * t.chars().count() as f64;
    }

    let rps_max = report
        .results
        .iter()
        .map(|r| r.req_per_s)
        .fold(0.0, f64::max);
    let p99_max = report
        .results
        .iter()
        .map(|r| r.latency.p99_ms)
        .fold(0.0, f64::max);
    let (rps_axis, rps_step) = nice_axis(rps_max);
    let (lat_axis, lat_step) = nice_axis(p99_max);
    let panels = [
        Panel {
            title: "throughput (req/s)",
            top: 80.0,
            max: rps_axis,
        },
        Panel {
            title: "p99 latency (ms); black tick: p50",
            top: 80.0 + PANEL_H + 70.0,
            max: lat_axis,
        },
    ];
    panels[0].axes(&mut out, rps_step);
    panels[1].axes(&mut out, lat_step);

    let plot_w = WIDTH - LEFT - RIGHT;
    let group_w = plot_w / groups.len().max(1) as f64;
    let bar_w = group_w * 0.8 / targets.len().max(1) as f64;
    for (g, label) in groups.iter().enumerate() {
        let gx = LEFT + g as f64 * group_w;
        for p in &panels {
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" class="group">{}</text>"#,
                gx + group_w / 2.0,
                p.top + PANEL_H + 16.0,
                esc(label)
            );
        }
        for (t, name) in targets.iter().enumerate() {
            let Some(r) = report
                .results
                .iter()
                .find(|r| r.label == *label && r.target == *name)
            else {
                continue;
            };
            let color = PALETTE[t % PALETTE.len()];
            let bx = gx + group_w * 0.1 + t as f64 * bar_w;
            let cx = bx + bar_w / 2.0;
            let bars = [
                (&panels[0], r.req_per_s, rate(r.req_per_s), "bar-rps"),
                (
                    &panels[1],
                    r.latency.p99_ms,
                    ms(r.latency.p99_ms),
                    "bar-p99",
                ),
            ];
            for (p, v, text, class) in bars {
                let y = p.y(v);
                let _ = writeln!(
                    out,
                    r#"<rect class="{class}" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}: {text}</title></rect><text x="{cx:.1}" y="{:.1}" class="value">{text}</text>"#,
                    bx + 1.0,
                    (bar_w - 2.0).max(1.0),
                    p.top + PANEL_H - y,
                    esc(name),
                    y - 3.0
                );
            }
            let y50 = panels[1].y(r.latency.p50_ms);
            let _ = writeln!(
                out,
                r##"<line class="p50" x1="{:.1}" y1="{y50:.1}" x2="{:.1}" y2="{y50:.1}" stroke="#000" stroke-width="2"/>"##,
                bx + 1.0,
                bx + bar_w - 1.0
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn chart_shape() {
        let mut report = sample();
        for r in report.results.iter_mut().filter(|r| r.target == "api") {
            r.target = "a<b".into();
        }
        report.settings.targets[0].name = "a<b".into();
        let svg = render(&report);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("class=\"bar-rps\"").count(), 4);
        assert_eq!(svg.matches("class=\"bar-p99\"").count(), 4);
        assert_eq!(svg.matches("class=\"p50\"").count(), 4);
        assert_eq!(
            svg.matches("class=\"group\">c32<").count(),
            2,
            "one label per panel"
        );
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert_eq!(
            svg.matches("<rect").count(),
            svg.matches("</rect>").count() + 1 + 2,
            "background + legend"
        );
        // every bar stays inside the drawing
        for part in svg.split("<rect class=").skip(1) {
            let num = |key: &str| -> f64 {
                let v = part.split(&format!(" {key}=\"")).nth(1).unwrap();
                v[..v.find('"').unwrap()].parse().unwrap()
            };
            assert!(num("height") >= 0.0 && num("y") >= 0.0 && num("x") + num("width") <= WIDTH);
        }
    }

    #[test]
    fn axis_is_round() {
        assert_eq!(nice_axis(23119.0), (25000.0, 5000.0));
        assert_eq!(nice_axis(7.2), (8.0, 2.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert_eq!(tick_label(5000.0), "5k");
        assert_eq!(tick_label(0.4), "0.4");
    }
}
