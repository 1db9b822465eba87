#!/bin/sh
# Regenerates the .xls fixtures: xlsgen writes .xlsx sources, LibreOffice
# (Debian: apt-get install --no-install-recommends libreoffice-calc) saves
# them as Excel 97-2003 (BIFF8). Run from the repository root.
set -eu
dir=internal/workbook/testdata
go run ./$dir/xlsgen $dir
for f in template long; do
	soffice --headless --calc --convert-to xls:"MS Excel 97" --outdir $dir $dir/$f.xlsx
done
