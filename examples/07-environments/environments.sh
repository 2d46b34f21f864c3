#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 7 - dev / test / prod separation.
#
# Seed practice: "separate keys for development, test and production".
#
# Shows: three keys tagged --env dev, test and prod, and one provider config per
# environment (openssl-{dev,test,prod}.cnf next to this script). Each signer uses
# only the keys of its own environment: from the dev config the prod key is refused
# with an OpenSSL error "sealhsm: policy: key app-prod: env: ..." (and the refusal is
# audited), from the prod config it signs. The allowed signatures verify with stock
# openssl. Keep prod keys in a separate keystore on the release host as well; the env
# tag is what still holds when a config, a PIN or a backup ends up in the wrong place.
#
# Run:  bash environments.sh
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystore (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
export SEALHSM_KEYSTORE=$WORK/keystore

# Demo PINs, deliberately not secret. The signers read the user PIN from a file
# (pin-source in the configs); the SO types the SO PIN at the prompt for real.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# 1. One key per environment.
"$SEALHSM" init "${kdf[@]}"
for env in dev test prod; do
    "$SEALHSM" keygen "app-$env" --type ec:P-256 --env "$env" --description "app signing, $env"
    "$SEALHSM" pubkey "app-$env" --out "app-$env.pub.pem"
done
"$SEALHSM" list

# 2. The three configs with this machine's paths (a real host gets exactly one).
install -d -m 0700 secrets
printf '%s\n' "$SEALHSM_PIN" >secrets/sealhsm-pin && chmod 0400 secrets/sealhsm-pin
for env in dev test prod; do
    sed -e "s|^module = .*|module = $SEALHSM_PROVIDER_DIR/sealhsm.so|" \
        -e "s|^keystore = .*|keystore = $SEALHSM_KEYSTORE|" \
        -e "s|file:/run/secrets/|file:$WORK/secrets/|" \
        "$here/openssl-$env.cnf" >"openssl-$env.cnf"
done
unset SEALHSM_PIN
echo "build output" >artifact.bin

sign() { # ENV LABEL: sign artifact.bin as the ENV signer with key LABEL
    OPENSSL_CONF=$WORK/openssl-$1.cnf openssl dgst -sha256 -sign "sealhsm:$2" \
        -out "artifact.$1.$2.sig" artifact.bin 2>"sign.$1.$2.err"
}
refused() { # ENV LABEL: the signature must be refused by policy, for the env rule
    if sign "$1" "$2"; then
        echo "FAIL: the $1 signer signed with $2" >&2
        exit 1
    fi
    grep -o 'sealhsm: policy:.*' "sign.$1.$2.err" | tee -a refusals.txt
    grep -q "sealhsm: policy: key $2: env:" "sign.$1.$2.err"
    rm -f "artifact.$1.$2.sig" # openssl created the output before the refusal
}

# 3. Each environment's signer signs with its own key...
for env in dev test prod; do
    sign "$env" "app-$env"
done
# ...and nothing else: no prod key from dev or test, no dev key on the release host.
refused dev app-prod
refused test app-prod
refused dev app-test
refused prod app-dev

# 4. The refusals are audited (a dev machine trying a prod key is worth an alert).
"$SEALHSM" audit export --pin-file secrets/sealhsm-pin --format text | grep 'op=sign outcome=denied' | tee denied.txt
[ "$(wc -l <denied.txt)" -eq 4 ]

# 5. The allowed signatures verify with stock openssl and each key's public key.
for env in dev test prod; do
    OPENSSL_CONF=/dev/null openssl dgst -sha256 -verify "app-$env.pub.pem" \
        -signature "artifact.$env.app-$env.sig" artifact.bin
done
echo "OK: each environment signed only with its own key (dev/test/prod signatures verify); prod key refused from dev and test"
