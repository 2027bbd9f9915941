#!/bin/sh
# A plugin whose perfdata is partly garbage; the good items must still be read.
echo "WARNING - half good | good=1.5s;;; ==x bad=12zz 'no close=3 time=250ms;100;200;0;1000"
exit 1
