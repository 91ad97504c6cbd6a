#!/bin/sh
# udhcpc -s hook for tests: records the environment of each event in $BRKDH_DIR/udhcpc-<event>.env.
env | sort > "$BRKDH_DIR/udhcpc-$1.env"
exit 0
