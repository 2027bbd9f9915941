#!/bin/sh
# A plugin that hangs, with a child process that would outlive a naive kill. $1: how long each
# sleeps, a value unique to the test run, so the test finds its own sleeps and no one else's.
echo "STARTING"
sleep "$1" &
sleep "$1"
