//! Fax: the document catalog (`faxdocs/`), TIFF-F checks, and (later) the fax IVR actions. The T.30
//! engine itself is the safe spandsp wrapper in `dsp::fax`.

pub mod catalog;
pub mod cover;
pub mod filer;
pub mod mail;
pub mod record;
pub mod tiff;
