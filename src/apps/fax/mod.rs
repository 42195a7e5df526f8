//! Fax: the document catalog (`faxdocs/`), TIFF-F checks, and (later) the fax IVR actions. The T.30
//! engine itself is the safe spandsp wrapper in `dsp::fax`.

pub mod catalog;
pub mod dispatch;
pub mod filer;
pub mod queue;
pub mod tiff;
