//! Compressed files: gzip and zstd, for the file sources and sinks (`csv`, `jsonl`, `lines`).
//!
//! The `compression` option of those plugins says how a file is compressed: `auto` (the default) decides by
//! the file's extension (`.gz` gzip, `.zst` zstd, anything else none), `none`, `gzip` or `zstd` say it outright.
//!
//! What applies to compressed files (a compressed stream cannot be positioned in, nor cut back):
//! - a source reads it from the start, as a stream: a `checkpoint` on a compressed file is a configuration
//!   error (resuming would mean decompressing up to the position; read the file whole instead);
//! - a sink writes it crash-safe in replace mode, as any file: to a `.partial` file beside the target, renamed
//!   over it once the compressed stream is finished on close; a killed run leaves no torn output. `append` with
//!   compression is a configuration error (a torn compressed tail cannot be cut to a whole record);
//! - a sink's flush is a sync flush of the compressor: what a flush confirmed reaches the file and decompresses,
//!   though the file is a finished gzip or zstd file only after close;
//! - after a failed write (a full disk) the compressed stream is broken: the sink fails every later write
//!   instead of going on with a damaged file.
//!
//! Gzip input may hold several members one after another (as `cat a.gz b.gz` makes); all are read. Both
//! codecs are behind the `compression` cargo feature (on by default); without it, a compressed file is a
//! configuration error that says so.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a file is compressed (the `compression` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// By the file's extension: `.gz` gzip, `.zst` zstd, anything else none.
    #[default]
    Auto,
    /// Not compressed.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard.
    Zstd,
}

/// A decided codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// Plain bytes.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Codec {
    /// The name users know.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

impl Compression {
    /// The codec for `path`.
    pub(crate) fn codec(self, path: &Path) -> Codec {
        match self {
            Self::None => Codec::None,
            Self::Gzip => Codec::Gzip,
            Self::Zstd => Codec::Zstd,
            Self::Auto => match path.extension().and_then(|e| e.to_str()) {
                Some("gz") => Codec::Gzip,
                Some("zst") => Codec::Zstd,
                _ => Codec::None,
            },
        }
    }
}

/// The decompressed bytes of `file`.
///
/// # Errors
///
/// A zstd stream that cannot start (bad memory limits), or a codec left out of the build.
pub(crate) fn reader(codec: Codec, file: File) -> io::Result<Box<dyn Read + Send>> {
    let file = BufReader::with_capacity(64 * 1024, file);
    match codec {
        Codec::None => Ok(Box::new(file)),
        #[cfg(feature = "compression")]
        Codec::Gzip => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(file))),
        #[cfg(feature = "compression")]
        Codec::Zstd => Ok(Box::new(zstd::stream::read::Decoder::with_buffer(file)?)),
        #[cfg(not(feature = "compression"))]
        other => Err(missing(other)),
    }
}

#[cfg(not(feature = "compression"))]
fn missing(codec: Codec) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{} needs the `compression` feature of rivus-plugins",
            codec.name()
        ),
    )
}

/// A file sink's writer: plain, or through a compressor.
pub(crate) enum Writer {
    /// Plain bytes.
    Plain(BufWriter<File>),
    /// gzip (boxed: a compressor's state is large, and a plain writer is the common case).
    #[cfg(feature = "compression")]
    Gzip(Box<flate2::write::GzEncoder<BufWriter<File>>>),
    /// zstd.
    #[cfg(feature = "compression")]
    Zstd(Box<zstd::stream::write::Encoder<'static, BufWriter<File>>>),
}

impl Writer {
    /// A writer of `codec` into `file`.
    ///
    /// # Errors
    ///
    /// The compressor cannot start, or the codec is left out of the build.
    pub(crate) fn new(codec: Codec, file: BufWriter<File>) -> io::Result<Self> {
        match codec {
            Codec::None => Ok(Self::Plain(file)),
            #[cfg(feature = "compression")]
            Codec::Gzip => Ok(Self::Gzip(Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            )))),
            #[cfg(feature = "compression")]
            Codec::Zstd => Ok(Self::Zstd(Box::new(zstd::stream::write::Encoder::new(
                file, 0,
            )?))),
            #[cfg(not(feature = "compression"))]
            other => Err(missing(other)),
        }
    }

    /// The buffered file of a plain writer; `None` for a compressed one.
    pub(crate) fn into_plain(self) -> Option<BufWriter<File>> {
        match self {
            Self::Plain(w) => Some(w),
            #[cfg(feature = "compression")]
            Self::Gzip(_) | Self::Zstd(_) => None,
        }
    }

    /// The file under the writer.
    pub(crate) fn file(&self) -> &File {
        match self {
            Self::Plain(w) => w.get_ref(),
            #[cfg(feature = "compression")]
            Self::Gzip(w) => w.get_ref().get_ref(),
            #[cfg(feature = "compression")]
            Self::Zstd(w) => w.get_ref().get_ref(),
        }
    }

    /// Ends the compressed stream (a no-op for plain bytes) and gives the buffered file back.
    ///
    /// # Errors
    ///
    /// The compressor's last write failed.
    pub(crate) fn finish(self) -> io::Result<BufWriter<File>> {
        match self {
            Self::Plain(w) => Ok(w),
            #[cfg(feature = "compression")]
            Self::Gzip(w) => (*w).finish(),
            #[cfg(feature = "compression")]
            Self::Zstd(w) => (*w).finish(),
        }
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            #[cfg(feature = "compression")]
            Self::Gzip(w) => w.write(buf),
            #[cfg(feature = "compression")]
            Self::Zstd(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.write_all(buf),
            #[cfg(feature = "compression")]
            Self::Gzip(w) => w.write_all(buf),
            #[cfg(feature = "compression")]
            Self::Zstd(w) => w.write_all(buf),
        }
    }

    /// A sync flush of the compressor, then of the buffer: what was written decompresses from the file.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            #[cfg(feature = "compression")]
            Self::Gzip(w) => w.flush(),
            #[cfg(feature = "compression")]
            Self::Zstd(w) => w.flush(),
        }
    }
}

#[cfg(all(test, feature = "compression"))]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_decides_by_extension() {
        assert_eq!(Compression::Auto.codec(Path::new("a.csv.gz")), Codec::Gzip);
        assert_eq!(
            Compression::Auto.codec(Path::new("a.jsonl.zst")),
            Codec::Zstd
        );
        assert_eq!(Compression::Auto.codec(Path::new("a.csv")), Codec::None);
        assert_eq!(Compression::None.codec(Path::new("a.gz")), Codec::None);
        let dir = tempfile::tempdir().unwrap();
        for codec in [Codec::Gzip, Codec::Zstd, Codec::None] {
            let path = dir.path().join(codec.name());
            let mut w = Writer::new(codec, BufWriter::new(File::create(&path).unwrap())).unwrap();
            w.write_all(b"a\nb\n").unwrap();
            w.flush().unwrap();
            w.finish().unwrap().flush().unwrap();
            let mut text = String::new();
            reader(codec, File::open(&path).unwrap())
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, "a\nb\n");
        }
    }
}
