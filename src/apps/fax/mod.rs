//! Fax: the document catalog (`faxdocs/`), TIFF-F checks, the filing of received faxes, and the
//! outbound queue (`queue`: jobs in SQLite; `dispatch`: the thread that dials them). The fax IVR
//! actions are in `apps::ivr::fax`; the T.30 engine itself is the safe spandsp wrapper in `dsp::fax`.

pub mod catalog;
pub mod cover;
pub mod dispatch;
pub mod filer;
pub mod mail;
pub mod queue;
pub mod record;
pub mod tiff;
