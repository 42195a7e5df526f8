//! Reads the page directory of a TIFF file (no image decoding): enough to validate a fax document
//! (page count, width, resolution, compression) at catalog load and to check received files.
//! Classic TIFF only (not BigTIFF), both byte orders; every offset is bounds-checked and the page
//! chain is bounded, so a corrupt file is an error, never a panic or a loop.

use std::path::Path;

/// More pages than any fax document telvox sends or receives (DESIGN.md §5: limit everything).
pub const MAX_PAGES: usize = 1000;

/// Directory entries per page beyond which a file is taken as corrupt.
const MAX_ENTRIES: usize = 4096;

const TAG_IMAGE_WIDTH: u16 = 256;
const TAG_IMAGE_LENGTH: u16 = 257;
const TAG_BITS_PER_SAMPLE: u16 = 258;
const TAG_COMPRESSION: u16 = 259;
const TAG_X_RESOLUTION: u16 = 282;
const TAG_Y_RESOLUTION: u16 = 283;
const TAG_T4_OPTIONS: u16 = 292;
const TAG_RESOLUTION_UNIT: u16 = 296;
const TAG_STRIP_OFFSETS: u16 = 273;
const TAG_STRIP_BYTE_COUNTS: u16 = 279;

/// Strips per page beyond which a file is taken as corrupt (fax pages use one or a few).
const MAX_STRIPS: usize = 65_536;

/// TIFF compression values for fax codings.
pub const COMPRESSION_CCITT_T4: u32 = 3;
pub const COMPRESSION_CCITT_T6: u32 = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TiffError {
    #[error("cannot read: {0}")]
    Io(String),
    #[error("not a TIFF file (bad header)")]
    NotTiff,
    #[error("BigTIFF is not supported")]
    BigTiff,
    #[error("corrupt TIFF: {0}")]
    Corrupt(String),
    #[error("more than {MAX_PAGES} pages")]
    TooManyPages,
}

/// One page's directory, in the units a fax cares about.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TiffPage {
    pub width_px: u32,
    pub length_px: u32,
    pub bits_per_sample: u32,
    /// TIFF compression tag (1 none, 3 CCITT T.4, 4 CCITT T.6, ...).
    pub compression: u32,
    /// T4Options bit 0: 2-D coding (MR) rather than 1-D (MH).
    pub t4_2d: bool,
    /// Horizontal and vertical resolution in dots per inch (None when the tags are missing).
    pub x_dpi: Option<f64>,
    pub y_dpi: Option<f64>,
}

impl TiffPage {
    /// The fax coding: "MH", "MR", "MMR", or None for a non-fax compression.
    pub fn fax_coding(&self) -> Option<&'static str> {
        match (self.compression, self.t4_2d) {
            (COMPRESSION_CCITT_T4, false) => Some("MH"),
            (COMPRESSION_CCITT_T4, true) => Some("MR"),
            (COMPRESSION_CCITT_T6, _) => Some("MMR"),
            _ => None,
        }
    }
}

/// Reads every page's directory.
pub fn read_pages(path: &Path) -> Result<Vec<TiffPage>, TiffError> {
    let bytes = std::fs::read(path).map_err(|e| TiffError::Io(e.to_string()))?;
    parse_pages(&bytes)
}

struct Reader<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl Reader<'_> {
    fn u16_at(&self, offset: usize) -> Result<u16, TiffError> {
        let b = self
            .bytes
            .get(offset..offset.checked_add(2).ok_or_else(|| eof(offset))?)
            .ok_or_else(|| eof(offset))?;
        let b = [b[0], b[1]];
        Ok(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, offset: usize) -> Result<u32, TiffError> {
        let b = self
            .bytes
            .get(offset..offset.checked_add(4).ok_or_else(|| eof(offset))?)
            .ok_or_else(|| eof(offset))?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The first value of a SHORT or LONG entry whose value fits the entry (count 1 or more).
    fn integer(&self, entry: usize, field_type: u16) -> Result<u32, TiffError> {
        match field_type {
            3 => self.u16_at(entry + 8).map(u32::from),
            4 => self.u32_at(entry + 8),
            other => Err(TiffError::Corrupt(format!("integer tag has field type {other}"))),
        }
    }

    /// Every value of a SHORT or LONG entry (inline when they fit in 4 bytes, else at an offset).
    fn integers(&self, entry: usize, field_type: u16) -> Result<Vec<u32>, TiffError> {
        let count = self.u32_at(entry + 4)? as usize;
        if count == 0 || count > MAX_STRIPS {
            return Err(TiffError::Corrupt(format!("a strip table has {count} entries")));
        }
        let size = match field_type {
            3 => 2,
            4 => 4,
            other => return Err(TiffError::Corrupt(format!("strip table has field type {other}"))),
        };
        let base = if count * size <= 4 {
            entry + 8
        } else {
            self.u32_at(entry + 8)? as usize
        };
        (0..count)
            .map(|i| {
                if size == 2 {
                    self.u16_at(base + 2 * i).map(u32::from)
                } else {
                    self.u32_at(base + 4 * i)
                }
            })
            .collect()
    }

    /// A RATIONAL entry's value (stored at an offset).
    fn rational(&self, entry: usize, field_type: u16) -> Result<f64, TiffError> {
        if field_type != 5 {
            return Err(TiffError::Corrupt(format!(
                "resolution tag has field type {field_type}, not RATIONAL"
            )));
        }
        let at = self.u32_at(entry + 8)? as usize;
        let numerator = self.u32_at(at)?;
        let denominator = self.u32_at(at + 4)?;
        if denominator == 0 {
            return Err(TiffError::Corrupt("resolution with denominator 0".into()));
        }
        Ok(f64::from(numerator) / f64::from(denominator))
    }
}

fn eof(offset: usize) -> TiffError {
    TiffError::Corrupt(format!("offset {offset} is past the end of the file"))
}

/// Parses the page directories of a TIFF held in memory.
pub fn parse_pages(bytes: &[u8]) -> Result<Vec<TiffPage>, TiffError> {
    let big_endian = match bytes.get(0..2) {
        Some(b"II") => false,
        Some(b"MM") => true,
        _ => return Err(TiffError::NotTiff),
    };
    let reader = Reader { bytes, big_endian };
    match reader.u16_at(2).map_err(|_| TiffError::NotTiff)? {
        42 => {}
        43 => return Err(TiffError::BigTiff),
        _ => return Err(TiffError::NotTiff),
    }
    let mut next = reader.u32_at(4)? as usize;
    let mut pages = Vec::new();
    let mut seen = std::collections::HashSet::new();
    while next != 0 {
        if pages.len() >= MAX_PAGES {
            return Err(TiffError::TooManyPages);
        }
        if !seen.insert(next) {
            return Err(TiffError::Corrupt(format!(
                "page directory chain loops back to offset {next}"
            )));
        }
        let count = reader.u16_at(next)? as usize;
        if count == 0 || count > MAX_ENTRIES {
            return Err(TiffError::Corrupt(format!(
                "page {} directory has {count} entries",
                pages.len() + 1
            )));
        }
        let mut page = TiffPage {
            width_px: 0,
            length_px: 0,
            bits_per_sample: 1,
            compression: 1,
            t4_2d: false,
            x_dpi: None,
            y_dpi: None,
        };
        let mut unit_cm = false;
        let mut x_res = None;
        let mut y_res = None;
        let mut strip_offsets = Vec::new();
        let mut strip_byte_counts = Vec::new();
        for index in 0..count {
            let entry = next + 2 + index * 12;
            let tag = reader.u16_at(entry)?;
            let field_type = reader.u16_at(entry + 2)?;
            match tag {
                TAG_IMAGE_WIDTH => page.width_px = reader.integer(entry, field_type)?,
                TAG_IMAGE_LENGTH => page.length_px = reader.integer(entry, field_type)?,
                TAG_BITS_PER_SAMPLE => {
                    // Count 1 for bilevel; the value then sits in the entry.
                    if reader.u32_at(entry + 4)? == 1 {
                        page.bits_per_sample = reader.integer(entry, field_type)?;
                    } else {
                        page.bits_per_sample = 0;
                    }
                }
                TAG_COMPRESSION => page.compression = reader.integer(entry, field_type)?,
                TAG_T4_OPTIONS => page.t4_2d = reader.integer(entry, field_type)? & 1 != 0,
                TAG_X_RESOLUTION => x_res = Some(reader.rational(entry, field_type)?),
                TAG_Y_RESOLUTION => y_res = Some(reader.rational(entry, field_type)?),
                TAG_RESOLUTION_UNIT => unit_cm = reader.integer(entry, field_type)? == 3,
                TAG_STRIP_OFFSETS => strip_offsets = reader.integers(entry, field_type)?,
                TAG_STRIP_BYTE_COUNTS => strip_byte_counts = reader.integers(entry, field_type)?,
                _ => {}
            }
        }
        // The image data must be there: every strip inside the file.
        let page_number = pages.len() + 1;
        if strip_offsets.is_empty() || strip_offsets.len() != strip_byte_counts.len() {
            return Err(TiffError::Corrupt(format!(
                "page {page_number} has no usable strip table"
            )));
        }
        for (&offset, &length) in strip_offsets.iter().zip(&strip_byte_counts) {
            let end = u64::from(offset) + u64::from(length);
            if end > bytes.len() as u64 {
                return Err(TiffError::Corrupt(format!(
                    "page {page_number}'s image data ends at byte {end}, past the end of the file ({} bytes): truncated?",
                    bytes.len()
                )));
            }
        }
        let to_dpi = |v: f64| if unit_cm { v * 2.54 } else { v };
        page.x_dpi = x_res.map(to_dpi);
        page.y_dpi = y_res.map(to_dpi);
        pages.push(page);
        next = reader.u32_at(next + 2 + count * 12)? as usize;
    }
    if pages.is_empty() {
        return Err(TiffError::Corrupt("no pages".into()));
    }
    Ok(pages)
}

/// Fax vertical resolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaxResolution {
    /// 3.85 lines/mm (98 dpi).
    Standard,
    /// 7.7 lines/mm (196 dpi).
    Fine,
}

/// Checks that a page is TIFF Class F as telvox sends it: 1728 px wide, bilevel, about 204 dpi
/// across and 98 or 196 dpi down, coded MH, MR or MMR. The message says what is wrong.
pub fn check_class_f(page: &TiffPage) -> Result<FaxResolution, String> {
    if page.width_px != 1728 {
        return Err(format!(
            "is {} px wide; a fax page is 1728 px (A4/Letter at 204 dpi)",
            page.width_px
        ));
    }
    if page.bits_per_sample != 1 {
        return Err("is not bilevel (1 bit per pixel)".into());
    }
    if page.fax_coding().is_none() {
        return Err(format!(
            "has TIFF compression {}; a fax page is coded MH, MR (3) or MMR (4)",
            page.compression
        ));
    }
    let Some(x_dpi) = page.x_dpi else {
        return Err("has no horizontal resolution".into());
    };
    let Some(y_dpi) = page.y_dpi else {
        return Err("has no vertical resolution".into());
    };
    if !(200.0..=206.0).contains(&x_dpi) {
        return Err(format!("has {x_dpi:.1} dpi across; a fax page has 204 (8 px/mm)"));
    }
    if (96.0..=100.0).contains(&y_dpi) {
        Ok(FaxResolution::Standard)
    } else if (192.0..=200.0).contains(&y_dpi) {
        Ok(FaxResolution::Fine)
    } else {
        Err(format!(
            "has {y_dpi:.1} dpi down; a fax page has 98 (standard) or 196 (fine)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF with one directory per (width, length, compression, y_dpi).
    fn tiff(pages: &[(u32, u32, u16, u32)]) -> Vec<u8> {
        let mut out = b"II*\0".to_vec();
        out.extend(8u32.to_le_bytes());
        for (index, &(width, length, compression, y_dpi)) in pages.iter().enumerate() {
            let entries: u16 = 8;
            let dir_start = out.len();
            let rationals = dir_start + 2 + usize::from(entries) * 12 + 4;
            let mut dir = Vec::new();
            dir.extend(entries.to_le_bytes());
            let mut entry = |tag: u16, ty: u16, value: u32| {
                dir.extend(tag.to_le_bytes());
                dir.extend(ty.to_le_bytes());
                dir.extend(1u32.to_le_bytes());
                dir.extend(value.to_le_bytes());
            };
            entry(TAG_IMAGE_WIDTH, 4, width);
            entry(TAG_IMAGE_LENGTH, 4, length);
            entry(TAG_COMPRESSION, 3, u32::from(compression));
            entry(TAG_X_RESOLUTION, 5, rationals as u32);
            entry(TAG_Y_RESOLUTION, 5, rationals as u32 + 8);
            entry(TAG_RESOLUTION_UNIT, 3, 2);
            // One 1-byte strip: the first byte of the file (always present).
            entry(TAG_STRIP_OFFSETS, 4, 0);
            entry(TAG_STRIP_BYTE_COUNTS, 4, 1);
            let next = if index + 1 < pages.len() {
                rationals + 16
            } else {
                0
            };
            dir.extend((next as u32).to_le_bytes());
            dir.extend(204u32.to_le_bytes());
            dir.extend(1u32.to_le_bytes());
            dir.extend(y_dpi.to_le_bytes());
            dir.extend(1u32.to_le_bytes());
            out.extend(dir);
        }
        out
    }

    #[test]
    fn reads_a_multi_page_directory() {
        let bytes = tiff(&[(1728, 2200, 3, 196), (1728, 1100, 4, 98)]);
        let pages = parse_pages(&bytes).expect("parse");
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].length_px, 2200);
        assert_eq!(check_class_f(&pages[0]), Ok(FaxResolution::Fine));
        assert_eq!(check_class_f(&pages[1]), Ok(FaxResolution::Standard));
        assert_eq!(pages[1].fax_coding(), Some("MMR"));
    }

    #[test]
    fn rejects_wrong_width_resolution_and_coding() {
        let pages = parse_pages(&tiff(&[(1700, 10, 3, 196)])).expect("parse");
        assert!(check_class_f(&pages[0]).unwrap_err().contains("1700 px wide"));
        let pages = parse_pages(&tiff(&[(1728, 10, 3, 150)])).expect("parse");
        assert!(check_class_f(&pages[0]).unwrap_err().contains("150.0 dpi down"));
        let pages = parse_pages(&tiff(&[(1728, 10, 5, 98)])).expect("parse");
        assert!(check_class_f(&pages[0]).unwrap_err().contains("compression 5"));
    }

    #[test]
    fn image_data_past_the_end_is_an_error() {
        let mut bytes = tiff(&[(1728, 2200, 3, 196)]);
        // Point the strip's byte count far past the end.
        let counts_at = 8 + 2 + 7 * 12 + 8;
        bytes[counts_at..counts_at + 4].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(matches!(parse_pages(&bytes), Err(TiffError::Corrupt(m)) if m.contains("truncated")));
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        assert_eq!(parse_pages(b""), Err(TiffError::NotTiff));
        assert_eq!(parse_pages(b"%PDF-1.4"), Err(TiffError::NotTiff));
        let good = tiff(&[(1728, 2200, 3, 196), (1728, 2200, 3, 196)]);
        // Every truncation of a good file fails cleanly.
        for cut in 0..good.len() {
            assert!(parse_pages(&good[..cut]).is_err(), "cut at {cut}");
        }
        // A directory chain that points back at itself.
        let mut looped = tiff(&[(1728, 2200, 3, 196)]);
        let next_at = 8 + 2 + 8 * 12;
        looped[next_at..next_at + 4].copy_from_slice(&8u32.to_le_bytes());
        assert!(matches!(parse_pages(&looped), Err(TiffError::Corrupt(m)) if m.contains("loops")));
    }
}
