# The plot at the top of docs/performance.md, from the two tables of its
# "What to expect" section (latency.dat, callers.dat). bench/run-vm --plot DIR
# measures, writes DIR/*.dat and draws DIR/performance.png (bench/vm-bench-plot).
# Redraw with  gnuplot docs/plots/performance.gp     (from the repository's root)
# or elsewhere with  gnuplot -e "output='FILE.png'" docs/plots/performance.gp;
# -e "dir='DIR/'" reads DIR/*.dat and, without output, draws DIR/performance.png.
# gnuplot is Debian's gnuplot-nox, installed by scripts/install-deps;
# tests/docs/check-performance-plot.sh checks the PNG is up to date.
if (!exists('dir')) dir = 'docs/plots/'
if (!exists('output')) output = dir.'performance.png'
set terminal pngcairo size 1100,440 font 'DejaVu Sans,10' noenhanced
set output output
set datafile missing '-'
set key top left
set grid ytics
set multiplot layout 1,2 title 'nvmecused beside the CUSE round trip alone and the kernel driver (QEMU TCG guest, 2 vCPUs)'

set title 'One caller: mean latency per command (lower is better)'
set ylabel 'µs'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics nomirror
plot dir.'latency.dat' using 2:xtic(1) title 'CUSE round trip alone', \
     ''                using 3        title 'nvmecused', \
     ''                using 4        title 'kernel driver'

set title '4 KiB random reads: callers on one namespace (higher is better)'
set ylabel 'IOPS'
set xlabel 'callers'
set logscale x 2
set xrange [0.8:10]
set xtics (1, 2, 4, 8)
set style data linespoints
plot dir.'callers.dat' using 1:2 title 'CUSE round trip alone' lw 2 pt 7, \
     ''                using 1:3 title 'nvmecused'             lw 2 pt 7, \
     ''                using 1:4 title 'kernel driver'         lw 2 pt 7

unset multiplot
