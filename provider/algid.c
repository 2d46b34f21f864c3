/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DER AlgorithmIdentifier of a signature, which X.509 and CMS signing ask
 * the signature context for (OSSL_SIGNATURE_PARAM_ALGORITHM_ID).
 */
#include "algid.h"

#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* Digest AlgorithmIdentifiers inside PSS parameters carry NULL (RFC 4055 2.1). */
static X509_ALGOR *digest_algor(const EVP_MD *md) {
    X509_ALGOR *a = X509_ALGOR_new();

    if (a != NULL && !X509_ALGOR_set0(a, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL)) {
        X509_ALGOR_free(a);
        return NULL;
    }
    return a;
}

/* RSASSA-PSS-params; fields equal to the SHA-1 / 20-byte defaults are omitted (DER). */
static int pss_algor(X509_ALGOR *alg, const EVP_MD *md, const EVP_MD *mgf1, int saltlen) {
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    X509_ALGOR *mgf1_hash = NULL;
    ASN1_STRING *packed = NULL;
    int ok = 0;

    if (pss == NULL)
        return 0;
    if (EVP_MD_get_type(md) != NID_sha1 && (pss->hashAlgorithm = digest_algor(md)) == NULL)
        goto end;
    if (EVP_MD_get_type(mgf1) != NID_sha1) {
        if ((mgf1_hash = digest_algor(mgf1)) == NULL ||
            ASN1_item_pack(mgf1_hash, ASN1_ITEM_rptr(X509_ALGOR), &packed) == NULL ||
            (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
            !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, packed))
            goto end;
        packed = NULL;
    }
    if (saltlen != 20 && ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
                          !ASN1_INTEGER_set(pss->saltLength, saltlen)))
        goto end;
    if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &packed) == NULL ||
        !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, packed))
        goto end;
    packed = NULL;
    ok = 1;

end:
    ASN1_STRING_free(packed);
    X509_ALGOR_free(mgf1_hash);
    RSA_PSS_PARAMS_free(pss);
    return ok;
}

/* sha256WithRSAEncryption, ecdsa-with-SHA384, id-rsassa-pkcs1-v1_5-with-sha3-256, ... */
static int combined_algor(X509_ALGOR *alg, const EVP_MD *md, int pknid, int ptype) {
    int sigid;

    if (!OBJ_find_sigid_by_algs(&sigid, EVP_MD_get_type(md), pknid))
        return 0;
    return X509_ALGOR_set0(alg, OBJ_nid2obj(sigid), ptype, NULL);
}

int sealhsm_algorithm_id(const sealhsm_sigalg *s, unsigned char **der, int *derlen) {
    X509_ALGOR *alg = X509_ALGOR_new();
    int ok;

    if (alg == NULL)
        return 0;
    switch (s->kind) {
    case SEALHSM_SIGALG_RSA_PKCS1:
        /* PKCS #1: the parameters of these OIDs are an explicit NULL */
        ok = combined_algor(alg, s->md, NID_rsaEncryption, V_ASN1_NULL);
        break;
    case SEALHSM_SIGALG_RSA_PSS:
        ok = pss_algor(alg, s->md, s->mgf1, s->saltlen);
        break;
    case SEALHSM_SIGALG_ECDSA:
        ok = combined_algor(alg, s->md, NID_X9_62_id_ecPublicKey, V_ASN1_UNDEF);
        break;
    case SEALHSM_SIGALG_ED25519:
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL);
        break;
    case SEALHSM_SIGALG_ED448:
        ok = X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED448), V_ASN1_UNDEF, NULL);
        break;
    default:
        ok = 0;
    }
    *der = NULL;
    if (ok)
        ok = (*derlen = i2d_X509_ALGOR(alg, der)) > 0;
    X509_ALGOR_free(alg);
    return ok;
}
