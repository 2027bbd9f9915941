#!/bin/sh
# A plugin that hangs, with a child process that would outlive a naive kill.
echo "STARTING"
sleep 300 &
sleep 300
