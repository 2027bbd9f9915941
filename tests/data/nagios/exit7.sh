#!/bin/sh
echo "something odd"
exit 7
