/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm`: dispatch to the subcommands, global options, the one-line error report. */
#include "cli.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <string.h>

#define LOGIN_HELP                                                                                 \
    "  --pin-file FILE | --pin-fd N   PIN of the role logged in as (else $SEALHSM_PIN /\n"         \
    "                                 $SEALHSM_SO_PIN, else a terminal prompt)\n"                  \
    "  --so-pin-file FILE             SO PIN (for commands that log in as SO)\n"
#define READER_HELP LOGIN_HELP "  --so                           log in as SO instead of user\n"
#define COMMON_HELP                                                                                \
    "  --keystore DIR                 keystore directory (else $SEALHSM_KEYSTORE,\n"               \
    "                                 $XDG_DATA_HOME/sealhsm, ~/.local/share/sealhsm)\n"           \
    "  --help                         this text\n"
#define POLICY_HELP                                                                                \
    "policy options:\n"                                                                            \
    "  --env dev|test|prod            environment the signer must be in (default dev)\n"           \
    "  --digests LIST                 e.g. sha256,sha384 (SHA-1 and MD5 never)\n"                  \
    "  --padding LIST                 RSA paddings: pss,pkcs1\n"                                   \
    "  --not-before T, --not-after T  validity window, RFC 3339 (or 'none')\n"                     \
    "  --max-signatures N             lifetime cap (or 'none')\n"                                  \
    "  --rate N/PERIOD                e.g. 100/min, 5000/day (or 'none')\n"                        \
    "  --approvals M                  officers needed for an activation (0 = none)\n"              \
    "  --activation-ttl DUR           how long an activation lasts, e.g. 1h\n"                     \
    "  --users LIST                   OS users (names or uids) allowed to sign (or 'any')\n"       \
    "  --groups LIST                  OS groups (names or gids), primary or supplementary,\n"      \
    "                                 one of which the signer must be in (or 'any')\n"             \
    "  --key-pin                      require a per-key PIN at sign time; the PIN is read\n"       \
    "                                 from --key-pin-file FILE, $SEALHSM_KEY_PIN or a prompt\n"    \
    "  --audit durable|batched        audit flushing of signatures (default durable)\n"

static const cli_cmd commands[] = {
    {"init", NULL, cmd_init,
     "usage: sealhsm init [--label TEXT] [--kdf-memory MiB] [--kdf-iterations N]\n"
     "                    [--kdf-lanes N] [--max-pin-tries N] [--syslog] [--so-pin-file FILE]\n"
     "                    [--pin-file FILE]\n"
     "Creates a keystore. The SO PIN comes from --so-pin-file or $SEALHSM_SO_PIN, the user\n"
     "PIN from --pin-file or $SEALHSM_PIN; each is otherwise prompted for twice.\n"
     "  --label TEXT                   keystore label, 1..32 printable bytes (default\n"
     "                                 sealhsm): the PKCS#11 token label\n"
     "  --kdf-memory MiB               Argon2id memory, 1..4096 (default 64)\n"
     "  --kdf-iterations N             Argon2id passes, 1..100 (default 3)\n"
     "  --kdf-lanes N                  Argon2id lanes, 1..16 (default 1)\n"
     "  --max-pin-tries N              failures before a role locks, 1..1000 (default 10)\n"
     "  --syslog                       every program using the keystore copies each audit\n"
     "                                 record to syslog (authpriv) once committed\n"
     "  --pin-fd N                     read the user PIN from file descriptor N\n" COMMON_HELP},
    {"info", NULL, cmd_info,
     "usage: sealhsm info [--json]\n"
     "Shows the keystore: path, id (the PKCS#11 token serial is its first 16 hex digits),\n"
     "label, format version, Argon2id parameters, PIN try limit and officer quorum.\n"
     "  --json                         print a JSON object\n" READER_HELP COMMON_HELP},
    {"keygen", NULL, cmd_keygen,
     "usage: sealhsm keygen LABEL --type TYPE [--description TEXT] [policy options]\n"
     "       sealhsm keygen LABEL --like OLD [options overriding OLD's]\n"
     "Generates a key inside the keystore (logs in as SO).\n"
     "  --type TYPE                    rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384|\n"
     "                                 ec:P-521|ed25519|ed448\n"
     "  --like OLD                     same type, env and policy as key OLD (rotation)\n"
     "  --description TEXT             free text kept with the key\n" POLICY_HELP LOGIN_HELP
         COMMON_HELP},
    {"import", NULL, cmd_import,
     "usage: sealhsm import LABEL --in KEYFILE [--passin SRC] [--description TEXT]\n"
     "                      [policy options]\n"
     "Imports a private key (PEM or DER, PKCS#8 or traditional) for migration; the key\n"
     "is marked origin=imported (logs in as SO).\n"
     "  --in KEYFILE                   the private key file\n"
     "  --passin SRC                   its passphrase: pass:TEXT, env:VAR or file:PATH\n"
     "  --description TEXT             free text kept with the key\n" POLICY_HELP LOGIN_HELP
         COMMON_HELP},
    {"list", NULL, cmd_list,
     "usage: sealhsm list [--json]\n"
     "Lists every key: label, id, type, env, state, origin, created.\n"
     "  --json                         print a JSON array\n" READER_HELP COMMON_HELP},
    {"show", NULL, cmd_show,
     "usage: sealhsm show LABEL [--json]\n"
     "Shows one key with its policy, usage and certificate.\n"
     "  --json                         print a JSON object\n" READER_HELP COMMON_HELP},
    {"status", NULL, cmd_status,
     "usage: sealhsm status [--socket PATH] [--json]\n"
     "Asks a running sealhsmd what it serves (no PIN needed): version, keystore id and\n"
     "directory, environment, uptime, clients connected and signatures made.\n"
     "  --socket PATH                  the daemon's socket (default: $SEALHSM_SOCKET, else\n"
     "                                 /run/sealhsm/sealhsm.sock)\n"
     "  --json                         print a JSON object\n"},
    {"pubkey", NULL, cmd_pubkey,
     "usage: sealhsm pubkey LABEL [--out FILE]\n"
     "Writes the key's SubjectPublicKeyInfo as PEM.\n"
     "  --out FILE                     write to FILE instead of stdout\n" READER_HELP COMMON_HELP},
    {"keyref", NULL, cmd_keyref,
     "usage: sealhsm keyref LABEL [--out FILE]\n"
     "Writes a key-reference PEM file (keystore id and key id, no secret).\n"
     "  --out FILE                     write to FILE instead of stdout\n" READER_HELP COMMON_HELP},
    {"cert", "import", cmd_cert_import,
     "usage: sealhsm cert import LABEL CERTFILE [CHAINFILE]\n"
     "Stores the key's certificate chain with the key (logs in as SO). CERTFILE holds the\n"
     "key's certificate first (PEM, possibly followed by its chain, or one DER\n"
     "certificate); CHAINFILE adds more certificates, issuer first.\n" LOGIN_HELP COMMON_HELP},
    {"policy", NULL, cmd_policy,
     "usage: sealhsm policy LABEL [policy options] [--no-key-pin]\n"
     "Changes the options given and keeps the rest (logs in as SO).\n" POLICY_HELP
     "  --no-key-pin                   drop the per-key PIN\n" LOGIN_HELP COMMON_HELP},
    {"disable", NULL, cmd_disable,
     "usage: sealhsm disable LABEL [--reason TEXT]\n"
     "Suspends a key; 'enable' undoes it (logs in as SO).\n" LOGIN_HELP COMMON_HELP},
    {"enable", NULL, cmd_enable,
     "usage: sealhsm enable LABEL [--reason TEXT]\n"
     "Re-activates a disabled key (logs in as SO).\n" LOGIN_HELP COMMON_HELP},
    {"revoke", NULL, cmd_revoke,
     "usage: sealhsm revoke LABEL [--reason TEXT]\n"
     "Revokes a key for good (logs in as SO).\n" LOGIN_HELP COMMON_HELP},
    {"destroy", NULL, cmd_destroy,
     "usage: sealhsm destroy LABEL\n"
     "Zeroizes the key; a tombstone keeps its label and id (logs in as SO). Does not\n"
     "ask for confirmation.\n" LOGIN_HELP COMMON_HELP},
    {"pin", "change", cmd_pin_change,
     "usage: sealhsm pin change [--so] [--new-pin-file FILE]\n"
     "Changes the user PIN (the SO PIN with --so). The current PIN comes from the usual\n"
     "sources, the new one from --new-pin-file or $SEALHSM_NEW_PIN, else two prompts.\n" READER_HELP
         COMMON_HELP},
    {"pin", "reset-user", cmd_pin_reset_user,
     "usage: sealhsm pin reset-user [--new-pin-file FILE]\n"
     "Sets a new user PIN and clears the user lockout (logs in as SO). The new PIN comes\n"
     "from --new-pin-file or $SEALHSM_NEW_PIN, else two prompts.\n" LOGIN_HELP COMMON_HELP},
    {"pin", "reset-key", cmd_pin_reset_key,
     "usage: sealhsm pin reset-key LABEL [--new-pin-file FILE]\n"
     "Sets a new usage PIN on a --key-pin key and clears its lockout (logs in as SO).\n"
     "The new PIN comes from --new-pin-file, $SEALHSM_NEW_PIN or $SEALHSM_KEY_PIN, else\n"
     "two prompts.\n" LOGIN_HELP COMMON_HELP},
    {"officer", "add", cmd_officer_add,
     "usage: sealhsm officer add NAME [--officer-pin-file FILE]\n"
     "Adds an approval officer (logs in as SO). The officer's PIN comes from\n"
     "--officer-pin-file, --new-pin-file, $SEALHSM_OFFICER_PIN or $SEALHSM_NEW_PIN, else\n"
     "two prompts.\n" LOGIN_HELP COMMON_HELP},
    {"officer", "remove", cmd_officer_remove,
     "usage: sealhsm officer remove NAME\n"
     "Removes an approval officer (logs in as SO).\n" LOGIN_HELP COMMON_HELP},
    {"officer", "quorum", cmd_officer_quorum,
     "usage: sealhsm officer quorum [M] [--json]\n"
     "Shows the officer quorum, or sets it to M (logs in as SO). While the effective\n"
     "quorum Q (the setting, or the largest --approvals of a key not destroyed) is 1 or\n"
     "more, officer add and remove, lowering a key's --approvals, lowering the quorum and\n"
     "rekey need a live admin activation by Q officers ('approve --admin').\n"
     "  --json                         print {setting, effective, officers}\n" READER_HELP
         COMMON_HELP},
    {"officer", "list", cmd_officer_list,
     "usage: sealhsm officer list [--json]\n"
     "Lists the approval officers.\n"
     "  --json                         print a JSON array of names\n" READER_HELP COMMON_HELP},
    {"approve", NULL, cmd_approve,
     "usage: sealhsm approve LABEL --officer NAME [--officer-pin-file FILE]\n"
     "       sealhsm approve --admin --officer NAME [--officer-pin-file FILE]\n"
     "Records officer NAME's approval toward activating the key, or with --admin toward\n"
     "the admin activation that officer changes need (see 'officer quorum'); logs in as\n"
     "the officer (PIN from --pin-file, --pin-fd, --officer-pin-file,\n"
     "$SEALHSM_OFFICER_PIN or a prompt).\n" COMMON_HELP},
    {"audit", "verify", cmd_audit_verify,
     "usage: sealhsm audit verify [--json]\n"
     "Checks the audit log's sequence, hash chain and MACs; exit 6 on any break.\n"
     "  --json                         print {records, unauthenticated, ok}\n" READER_HELP
         COMMON_HELP},
    {"audit", "export", cmd_audit_export,
     "usage: sealhsm audit export [--since SEQ] [--format jsonl|text]\n"
     "Prints the audit records from SEQ on (inclusive).\n"
     "  --since SEQ                    first record (default 1)\n"
     "  --format jsonl|text            one JSON object or one line per record (default "
     "text)\n" READER_HELP COMMON_HELP},
    {"verify", NULL, cmd_verify,
     "usage: sealhsm verify [--json]\n"
     "Checks the whole keystore: every record of every table and index against its MAC,\n"
     "the freshness tree and the authenticated audit head, then the audit log; exit 6\n"
     "naming the first problem.\n"
     "  --json                         print {ok, keys, labels, officers, audit_records,\n"
     "                                 unauthenticated[, error]}\n" READER_HELP COMMON_HELP},
    {"clock", "accept", cmd_clock_accept,
     "usage: sealhsm clock accept\n"
     "After a genuine correction of the system clock: the current time becomes the\n"
     "keystore's clock floor (logs in as SO; audited). Operations whose clock reads more\n"
     "than 5 minutes before the latest time the keystore recorded are refused.\n" LOGIN_HELP
         COMMON_HELP},
    {"upgrade", NULL, cmd_upgrade,
     "usage: sealhsm upgrade\n"
     "Upgrades a keystore made by an earlier sealhsm to the current format (logs in as\n"
     "SO; any SO or user login does the same).\n" LOGIN_HELP COMMON_HELP},
    {"rekey", NULL, cmd_rekey,
     "usage: sealhsm rekey [--user-pin-file FILE] [--officer-pin NAME=FILE ...]\n"
     "Rotates the master key (logs in as SO): every record is resealed and the SO and\n"
     "user slots are rewrapped, PINs unchanged, in one transaction. The user PIN comes\n"
     "from --user-pin-file, $SEALHSM_PIN or a prompt. An officer slot can only be\n"
     "rewrapped with that officer's PIN: officers not given with --officer-pin are\n"
     "removed and must be enrolled again. Needs an admin activation while the officer\n"
     "quorum is 1 or more; no other process may have the keystore open.\n" LOGIN_HELP COMMON_HELP},
    {"backup", NULL, cmd_backup,
     "usage: sealhsm backup --out FILE\n"
     "Writes a sealed backup of the keystore (logs in as SO).\n" LOGIN_HELP COMMON_HELP},
    {"restore", NULL, cmd_restore,
     "usage: sealhsm restore --in FILE --keystore NEWDIR\n"
     "Recreates a keystore from a backup; needs the SO PIN the backup was made under.\n" LOGIN_HELP
         COMMON_HELP},
    {"selftest", NULL, cmd_selftest,
     "usage: sealhsm selftest [--json]\n"
     "Runs the known-answer tests of every algorithm; exit 6 if any fails.\n"
     "  --json                         print {tests: [{name, ok}], ok}\n" COMMON_HELP},
    {"attest", NULL, cmd_attest,
     "usage: sealhsm attest LABEL [--out FILE]\n"
     "       sealhsm attest --ca [--out FILE]\n"
     "Writes the attestation certificate of LABEL's key, or of the keystore's CA, as PEM.\n"
     "  --out FILE                     write to FILE instead of stdout\n" READER_HELP COMMON_HELP},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void overview(FILE *f) {
    fputs("usage: sealhsm [--keystore DIR] COMMAND [ARGS] [--help]\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %s%s%s\n", commands[i].name, commands[i].sub ? " " : "",
                commands[i].sub ? commands[i].sub : "");
    fputs("Run 'sealhsm COMMAND --help' for the options of one command.\n", f);
}

static bool has_subcommands(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0 && commands[i].sub != NULL)
            return true;
    return false;
}

/* The subcommands of a group ("change|reset-user"), for messages. */
static void group_subs(const char *name, char *out, size_t len) {
    out[0] = '\0';
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        if (out[0] != '\0')
            strncat(out, "|", len - strlen(out) - 1);
        strncat(out, commands[i].sub, len - strlen(out) - 1);
    }
}

/* Finds the command named by argv[0] (and argv[1] for groups); *used = words consumed. */
static const cli_cmd *lookup(int argc, char **argv, su_error *e, int *used) {
    const char *name = argv[0];
    if (!has_subcommands(name)) {
        for (size_t i = 0; i < NCOMMANDS; i++) {
            if (strcmp(commands[i].name, name) == 0) {
                *used = 1;
                return &commands[i];
            }
        }
        su_err(e, SU_EUSAGE, "unknown command '%.64s' (see 'sealhsm --help')", name);
        return NULL;
    }
    char subs[128];
    group_subs(name, subs, sizeof(subs));
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("usage: sealhsm %s %s ...\n", name, subs);
            e->code = CLI_HELP;
            return NULL;
        }
        su_err(e, SU_EUSAGE, "%s: missing subcommand (%s)", name, subs);
        return NULL;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0 && strcmp(commands[i].sub, argv[1]) == 0) {
            *used = 2;
            return &commands[i];
        }
    }
    su_err(e, SU_EUSAGE, "%s: unknown subcommand '%.64s' (expected %s)", name, argv[1], subs);
    return NULL;
}

/* Options before the command: only those that make sense for every command. */
static int global_options(cli *c, int argc, char **argv, int *first) {
    static const struct option opts[] = {
        {"keystore", required_argument, NULL, OPT_KEYSTORE},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, 'V'},
        CLI_OPTS_END,
    };
    opterr = 0;
    optind = 0;
    int o;
    while ((o = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_KEYSTORE:
            c->keystore = optarg;
            break;
        case OPT_HELP:
            overview(stdout);
            return CLI_HELP;
        case 'V':
            printf("sealhsm %s\n", SEALHSM_VERSION);
            return CLI_HELP;
        case ':':
            return su_err(&c->err, SU_EUSAGE, "option '%.64s' needs a value", argv[optind - 1]);
        default:
            return su_err(&c->err, SU_EUSAGE, "unknown option '%.64s' (see 'sealhsm --help')",
                          argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return su_err(&c->err, SU_EUSAGE, "missing command (see 'sealhsm --help')");
    *first = optind;
    return SU_OK;
}

static int run(cli *c, int argc, char **argv) {
    int first = 0, used = 0;
    int rc = global_options(c, argc, argv, &first);
    if (rc != SU_OK)
        return rc;
    c->cmd = lookup(argc - first, argv + first, &c->err, &used);
    if (c->cmd == NULL)
        return c->err.code;
    /* the command sees its last word as argv[0], like getopt expects */
    int skip = first + used - 1;
    return c->cmd->run(c, argc - skip, argv + skip);
}

int main(int argc, char **argv) {
    /* PINs and derived keys live in the secure heap; without it they would fall back
     * to ordinary memory, which is still cleansed, so a failure here is not fatal. */
    CRYPTO_secure_malloc_init(1 << 16, 32);
    /* PINs in the environment move to the secure heap before anything else runs */
    su_pin_env_scrub();

    cli c = {0};
    int rc = run(&c, argc, argv);
    if (rc == CLI_HELP)
        rc = SU_OK;
    if (rc != SU_OK) {
        if (c.err.msg[0] == '\0')
            su_err(&c.err, rc, "%s", su_strerror(rc));
        fflush(stdout);
        fprintf(stderr, "sealhsm: %s\n", c.err.msg);
    }
    ERR_clear_error();
    if (fflush(stdout) != 0 && rc == SU_OK) {
        fprintf(stderr, "sealhsm: cannot write to standard output\n");
        rc = SU_EIO;
    }
    su_pin_env_forget();
    CRYPTO_secure_malloc_done();
    return rc;
}
