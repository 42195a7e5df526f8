#!/bin/sh
# Regenerates hours.tif (TIFF Class F: 1728 px, 204x196 dpi, MMR) from hours.ps with ghostscript.
# The TIFF is committed so the catalog has a document that is used as is, without conversion.
set -eu
cd "$(dirname "$0")"
gs -q -dNOPAUSE -dBATCH -dSAFER -sDEVICE=tiffg4 -r204x196 -g1728x2292 -dFIXEDMEDIA -dFitPage \
    -sOutputFile=hours.tif hours.ps
