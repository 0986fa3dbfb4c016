//! A canvas drawing backend that measures text with the canvas itself.
//!
//! plotters' browser font support measures every label by adding a `<span>` to the page, reading
//! its `offsetHeight` (which lays the whole page out again) and removing it. In the load bench
//! (issue #13: three 101 × 101 panels redrawn as cells stream in) that read alone was 59 s of the
//! main thread's time, the largest item of its profile. `CanvasRenderingContext2d.measureText`
//! measures the same font without touching the page. Everything else is plotters-canvas.

use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

/// plotters-canvas with text measured by the canvas (`measureText`).
pub struct MeasuredCanvas {
    inner: CanvasBackend,
    context: CanvasRenderingContext2d,
}

impl MeasuredCanvas {
    /// The backend of a `<canvas>`, or `None` when the browser gives no 2-D context.
    pub fn new(canvas: &HtmlCanvasElement) -> Option<Self> {
        let context = canvas
            .get_context("2d")
            .ok()??
            .dyn_into::<CanvasRenderingContext2d>()
            .ok()?;
        let inner = CanvasBackend::with_canvas_object(canvas.clone())?;
        Some(Self { inner, context })
    }
}

/// The canvas could not measure a text.
#[derive(Debug)]
struct MeasureError(String);

impl std::fmt::Display for MeasureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MeasureError {}

/// `context.measureText(text)`: the width and the font's ascent plus descent. Called through
/// JavaScript reflection: web-sys's `TextMetrics` feature would rebuild web-sys, and with it the
/// worker's WebGPU stack, for two numbers.
fn measure(context: &CanvasRenderingContext2d, text: &str) -> Result<(f64, f64), String> {
    let function = js_sys::Reflect::get(context, &"measureText".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("the canvas has no measureText")?;
    let metrics = function
        .call1(context, &text.into())
        .map_err(|e| format!("{e:?}"))?;
    let number = |key: &str| {
        js_sys::Reflect::get(&metrics, &key.into())
            .ok()
            .and_then(|v| v.as_f64())
            .ok_or_else(|| format!("measureText gave no {key}"))
    };
    Ok((
        number("width")?,
        number("fontBoundingBoxAscent")? + number("fontBoundingBoxDescent")?,
    ))
}

/// The CSS font plotters-canvas draws `style` with (the same text as its `draw_text`).
fn css_font<S: BackendTextStyle>(style: &S) -> String {
    format!(
        "{} {}px {}",
        style.style().as_str(),
        style.size(),
        style.family().as_str()
    )
}

impl DrawingBackend for MeasuredCanvas {
    type ErrorType = <CanvasBackend as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        style: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, style)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_text(text, style, pos)
    }

    /// Width from `measureText`; height the font's ascent plus descent (the line box the page's
    /// `<span>` measured), both rounded up. Like plotters' own estimate, the box is the unrotated
    /// text's.
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.context.save();
        self.context.set_font(&css_font(style));
        let measured = measure(&self.context, text);
        self.context.restore();
        let (width, height) = measured.map_err(|e| {
            DrawingErrorKind::FontError(Box::new(MeasureError(format!("measuring {text:?}: {e}"))))
        })?;
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}
