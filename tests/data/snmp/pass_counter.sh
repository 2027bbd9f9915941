#!/bin/sh
# net-snmp `pass` script for tests: serves controllable values read from files in $DIR.
#   .1.3.6.1.4.1.8072.9999.1.1.0  Counter32  (file counter)
#   .1.3.6.1.4.1.8072.9999.1.1.1  Counter32  (file row1; the row exists while the file does)
#   .1.3.6.1.4.1.8072.9999.1.2.0  TimeTicks  (file uptime, hundredths of a second)
# Usage (from snmpd.conf): pass .1.3.6.1.4.1.8072.9999.1 /bin/sh pass_counter.sh DIR
DIR="$1"; MODE="$2"; REQ="$3"
BASE=.1.3.6.1.4.1.8072.9999.1
serve() {
  case "$1" in
    $BASE.1.0) echo "$BASE.1.0"; echo counter; cat "$DIR/counter" ;;
    $BASE.1.1) if [ -f "$DIR/row1" ]; then echo "$BASE.1.1"; echo counter; cat "$DIR/row1"; fi ;;
    $BASE.2.0) echo "$BASE.2.0"; echo timeticks; cat "$DIR/uptime" ;;
  esac
}
case "$MODE" in
  -g) serve "$REQ" ;;
  -n)
    case "$REQ" in
      $BASE.1.0) if [ -f "$DIR/row1" ]; then serve $BASE.1.1; else serve $BASE.2.0; fi ;;
      $BASE|$BASE.1|$BASE.0*) serve $BASE.1.0 ;;
      $BASE.2|$BASE.1.*) serve $BASE.2.0 ;;
    esac ;;
esac
exit 0
