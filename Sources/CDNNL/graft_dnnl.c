#include "graft_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* One oneDNN operation on fixed shapes: the primitive, and for each argument the user's plain
 * layout, the primitive's layout and the reorder between them when they differ. */
enum { MAX_ARGS = 5 };

typedef struct arg_plan {
    int arg;
    int is_output;
    dnnl_memory_desc_t user_md;
    dnnl_memory_desc_t prim_md;
    dnnl_primitive_t reorder; /* NULL when the layouts agree */
    size_t size;
} arg_plan;

typedef struct op_plan {
    int state; /* 0 not built, 1 ready, -1 unavailable */
    dnnl_alg_kind_t alg; /* the algorithm the primitive was made with: Winograd or direct */
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    int nargs;
    arg_plan args[MAX_ARGS];
    dnnl_memory_desc_t scratch_md;
    size_t scratch_size;
} op_plan;

typedef struct entry {
    graft_conv_shape shape;
    op_plan fwd, bwd_data, bwd_weights;
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine = NULL;
static entry *cache = NULL;

static _Thread_local dnnl_stream_t thread_stream = NULL;

static void make_engine(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

int graft_dnnl_available(void) {
    pthread_once(&engine_once, make_engine);
    return engine != NULL;
}

static dnnl_stream_t stream(void) {
    if (!thread_stream && dnnl_stream_create(&thread_stream, engine, dnnl_stream_default_flags) != dnnl_success)
        thread_stream = NULL;
    return thread_stream;
}

static int same_shape(const graft_conv_shape *a, const graft_conv_shape *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

static entry *lookup(const graft_conv_shape *shape) {
    for (entry *e = cache; e; e = e->next)
        if (same_shape(&e->shape, shape)) return e;
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->shape = *shape;
    e->next = cache;
    cache = e;
    return e;
}

typedef struct descs {
    dnnl_memory_desc_t src, wei, bias, dst;         /* plain user layouts */
    dnnl_memory_desc_t src_any, wei_any, bias_any, dst_any;
    dnnl_dims_t strides, pad_l, pad_r;
} descs;

static int make_descs(const graft_conv_shape *s, descs *d) {
    int oh = (s->height + 2 * s->padding - s->kernel) / s->stride + 1;
    int ow = (s->width + 2 * s->padding - s->kernel) / s->stride + 1;
    if (oh <= 0 || ow <= 0) return -1;
    dnnl_dims_t src = {s->batch, s->in_channels, s->height, s->width};
    dnnl_dims_t wei = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    dnnl_dims_t bias = {s->out_channels};
    dnnl_dims_t dst = {s->batch, s->out_channels, oh, ow};
    if (dnnl_memory_desc_init_by_tag(&d->src, 4, src, dnnl_f32, dnnl_nchw)
        || dnnl_memory_desc_init_by_tag(&d->wei, 4, wei, dnnl_f32, dnnl_oihw)
        || dnnl_memory_desc_init_by_tag(&d->bias, 1, bias, dnnl_f32, dnnl_x)
        || dnnl_memory_desc_init_by_tag(&d->dst, 4, dst, dnnl_f32, dnnl_nchw)
        || dnnl_memory_desc_init_by_tag(&d->src_any, 4, src, dnnl_f32, dnnl_format_tag_any)
        || dnnl_memory_desc_init_by_tag(&d->wei_any, 4, wei, dnnl_f32, dnnl_format_tag_any)
        || dnnl_memory_desc_init_by_tag(&d->bias_any, 1, bias, dnnl_f32, dnnl_format_tag_any)
        || dnnl_memory_desc_init_by_tag(&d->dst_any, 4, dst, dnnl_f32, dnnl_format_tag_any))
        return -1;
    d->strides[0] = d->strides[1] = s->stride;
    d->pad_l[0] = d->pad_l[1] = d->pad_r[0] = d->pad_r[1] = s->padding;
    return 0;
}

static dnnl_primitive_attr_t make_attr(int relu) {
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (relu) {
        dnnl_post_ops_t po = NULL;
        if (dnnl_post_ops_create(&po) == dnnl_success) {
            dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
            dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    return attr;
}

/* Fills the plan's argument table from a ready primitive descriptor. */
static int add_arg(op_plan *p, int arg, dnnl_query_t query, const dnnl_memory_desc_t *user, int is_output) {
    /* Biases are the second weights argument. */
    int index = (arg == DNNL_ARG_BIAS || arg == DNNL_ARG_DIFF_BIAS) ? 1 : 0;
    const dnnl_memory_desc_t *prim = dnnl_primitive_desc_query_md(p->pd, query, index);
    if (!prim) return -1;
    arg_plan *a = &p->args[p->nargs++];
    a->arg = arg;
    a->is_output = is_output;
    a->user_md = *user;
    a->prim_md = *prim;
    a->reorder = NULL;
    a->size = dnnl_memory_desc_get_size(prim);
    if (!dnnl_memory_desc_equal(user, prim)) {
        dnnl_primitive_desc_t rpd = NULL;
        const dnnl_memory_desc_t *from = is_output ? prim : user, *to = is_output ? user : prim;
        if (dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL) != dnnl_success) return -1;
        dnnl_status_t st = dnnl_primitive_create(&a->reorder, rpd);
        dnnl_primitive_desc_destroy(rpd);
        if (st != dnnl_success) return -1;
    }
    return 0;
}

static int finish_plan(op_plan *p) {
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
    if (sp) {
        p->scratch_md = *sp;
        p->scratch_size = dnnl_memory_desc_get_size(sp);
    }
    return dnnl_primitive_create(&p->prim, p->pd) == dnnl_success ? 0 : -1;
}

static int build_forward_pd(const graft_conv_shape *s, const descs *d, dnnl_alg_kind_t alg, dnnl_primitive_desc_t *pd) {
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, alg, &d->src_any,
                                           &d->wei_any, s->has_bias ? &d->bias_any : NULL, &d->dst_any,
                                           d->strides, d->pad_l, d->pad_r) != dnnl_success)
        return -1;
    dnnl_primitive_attr_t attr = make_attr(s->fuse_relu);
    dnnl_status_t st = dnnl_primitive_desc_create(pd, &cd, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st == dnnl_success ? 0 : -1;
}

static int build_with(entry *e, int which, dnnl_alg_kind_t alg) {
    const graft_conv_shape *s = &e->shape;
    descs d;
    if (make_descs(s, &d)) return -1;
    if (which == 0) {
        op_plan *p = &e->fwd;
        if (build_forward_pd(s, &d, alg, &p->pd)) return -1;
        if (add_arg(p, DNNL_ARG_SRC, dnnl_query_src_md, &d.src, 0)
            || add_arg(p, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &d.wei, 0)
            || (s->has_bias && add_arg(p, DNNL_ARG_BIAS, dnnl_query_weights_md, &d.bias, 0))
            || add_arg(p, DNNL_ARG_DST, dnnl_query_dst_md, &d.dst, 1))
            return -1;
        return finish_plan(p);
    }
    dnnl_primitive_desc_t hint = NULL;
    if (build_forward_pd(s, &d, alg, &hint)) return -1;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = make_attr(0);
    int rc = -1;
    if (which == 1) {
        op_plan *p = &e->bwd_data;
        if (dnnl_convolution_backward_data_desc_init(&cd, alg, &d.src_any, &d.wei_any,
                                                     &d.dst_any, d.strides, d.pad_l, d.pad_r) == dnnl_success
            && dnnl_primitive_desc_create(&p->pd, &cd, attr, engine, hint) == dnnl_success
            && !add_arg(p, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &d.dst, 0)
            && !add_arg(p, DNNL_ARG_WEIGHTS, dnnl_query_weights_md, &d.wei, 0)
            && !add_arg(p, DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, &d.src, 1))
            rc = finish_plan(p);
    } else {
        op_plan *p = &e->bwd_weights;
        if (dnnl_convolution_backward_weights_desc_init(&cd, alg, &d.src_any, &d.wei_any,
                                                        s->has_bias ? &d.bias_any : NULL, &d.dst_any, d.strides,
                                                        d.pad_l, d.pad_r) == dnnl_success
            && dnnl_primitive_desc_create(&p->pd, &cd, attr, engine, hint) == dnnl_success
            && !add_arg(p, DNNL_ARG_SRC, dnnl_query_src_md, &d.src, 0)
            && !add_arg(p, DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, &d.dst, 0)
            && !add_arg(p, DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, &d.wei, 1)
            && (!s->has_bias || !add_arg(p, DNNL_ARG_DIFF_BIAS, dnnl_query_diff_weights_md, &d.bias, 1)))
            rc = finish_plan(p);
    }
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

static void reset_plan(op_plan *p) {
    for (int i = 0; i < p->nargs; i++)
        if (p->args[i].reorder) dnnl_primitive_destroy(p->args[i].reorder);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    memset(p, 0, sizeof *p);
}

/* Winograd first when the shape asks for it, else (or when it is unavailable) direct. */
static int build(entry *e, int which) {
    op_plan *p = which == 0 ? &e->fwd : which == 1 ? &e->bwd_data : &e->bwd_weights;
    if (e->shape.winograd) {
        if (build_with(e, which, dnnl_convolution_winograd) == 0) {
            p->alg = dnnl_convolution_winograd;
            return 0;
        }
        reset_plan(p);
    }
    if (build_with(e, which, dnnl_convolution_direct) == 0) {
        p->alg = dnnl_convolution_direct;
        return 0;
    }
    reset_plan(p);
    return -1;
}

/* The ready plan for (shape, which), building it on first use; NULL when oneDNN cannot run it. */
static op_plan *plan(const graft_conv_shape *shape, int which) {
    if (!graft_dnnl_available()) return NULL;
    pthread_mutex_lock(&lock);
    entry *e = lookup(shape);
    op_plan *p = NULL;
    if (e) {
        p = which == 0 ? &e->fwd : which == 1 ? &e->bwd_data : &e->bwd_weights;
        if (p->state == 0) p->state = build(e, which) == 0 ? 1 : -1;
        if (p->state != 1) p = NULL;
    }
    pthread_mutex_unlock(&lock);
    return p;
}

/* Arena bytes one call of the plan needs: its scratchpad and every reordered argument. */
static size_t arena_need(const op_plan *p) {
    size_t total = (p->scratch_size + 63) / 64 * 64;
    for (int i = 0; i < p->nargs; i++)
        if (p->args[i].reorder) total += (p->args[i].size + 63) / 64 * 64;
    return total;
}

static int execute(op_plan *p, void *const *user) {
    dnnl_stream_t strm = stream();
    if (!strm) return -1;
    size_t total = arena_need(p);
    char *base = graft_arena(total);
    if (total && !base) return -1;

    dnnl_memory_t user_mem[MAX_ARGS] = {0}, prim_mem[MAX_ARGS] = {0}, scratch = NULL;
    dnnl_exec_arg_t args[MAX_ARGS + 1];
    int rc = 0;
    size_t offset = 0;
    if (p->scratch_size) {
        rc |= dnnl_memory_create(&scratch, &p->scratch_md, engine, base) != dnnl_success;
        offset = (p->scratch_size + 63) / 64 * 64;
    }
    for (int i = 0; i < p->nargs && !rc; i++) {
        arg_plan *a = &p->args[i];
        rc |= dnnl_memory_create(&user_mem[i], &a->user_md, engine, user[i]) != dnnl_success;
        if (a->reorder) {
            rc |= dnnl_memory_create(&prim_mem[i], &a->prim_md, engine, base + offset) != dnnl_success;
            offset += (a->size + 63) / 64 * 64;
        }
    }
    int n = 0;
    for (int i = 0; i < p->nargs && !rc; i++) {
        arg_plan *a = &p->args[i];
        if (a->reorder && !a->is_output) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, user_mem[i]}, {DNNL_ARG_TO, prim_mem[i]}};
            rc |= dnnl_primitive_execute(a->reorder, strm, 2, r) != dnnl_success;
        }
        args[n].arg = a->arg;
        args[n].memory = a->reorder ? prim_mem[i] : user_mem[i];
        n++;
    }
    if (scratch) {
        args[n].arg = DNNL_ARG_SCRATCHPAD;
        args[n].memory = scratch;
        n++;
    }
    if (!rc) rc |= dnnl_primitive_execute(p->prim, strm, n, args) != dnnl_success;
    for (int i = 0; i < p->nargs && !rc; i++) {
        arg_plan *a = &p->args[i];
        if (a->reorder && a->is_output) {
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, prim_mem[i]}, {DNNL_ARG_TO, user_mem[i]}};
            rc |= dnnl_primitive_execute(a->reorder, strm, 2, r) != dnnl_success;
        }
    }
    rc |= dnnl_stream_wait(strm) != dnnl_success;
    for (int i = 0; i < p->nargs; i++) {
        if (user_mem[i]) dnnl_memory_destroy(user_mem[i]);
        if (prim_mem[i]) dnnl_memory_destroy(prim_mem[i]);
    }
    if (scratch) dnnl_memory_destroy(scratch);
    return rc ? -1 : 0;
}

int graft_conv_forward(const graft_conv_shape *shape, const float *x, const float *w, const float *bias, float *y) {
    op_plan *p = plan(shape, 0);
    if (!p) return -1;
    void *user[MAX_ARGS];
    int n = 0;
    user[n++] = (void *)x;
    user[n++] = (void *)w;
    if (shape->has_bias) user[n++] = (void *)bias;
    user[n++] = y;
    return execute(p, user);
}

int graft_conv_backward_data(const graft_conv_shape *shape, const float *dy, const float *w, float *dx) {
    graft_conv_shape s = *shape;
    s.fuse_relu = 0;
    s.has_bias = 0;
    op_plan *p = plan(&s, 1);
    if (!p) return -1;
    void *user[3] = {(void *)dy, (void *)w, dx};
    return execute(p, user);
}

int graft_conv_backward_weights(const graft_conv_shape *shape, const float *x, const float *dy, float *dw,
                                float *dbias) {
    graft_conv_shape s = *shape;
    s.fuse_relu = 0;
    op_plan *p = plan(&s, 2);
    if (!p) return -1;
    void *user[4] = {(void *)x, (void *)dy, dw, dbias};
    return execute(p, user);
}

/* The plan a pass runs, with the flags that pass ignores cleared (as the entry points do). */
static op_plan *pass_plan(const graft_conv_shape *shape, int pass) {
    graft_conv_shape s = *shape;
    if (pass > 0) s.fuse_relu = 0;
    if (pass == 1) s.has_bias = 0;
    return plan(&s, pass);
}

long graft_conv_arena_bytes(const graft_conv_shape *shape, int pass) {
    op_plan *p = pass_plan(shape, pass);
    return p ? (long)arena_need(p) : -1;
}

const char *graft_conv_implementation(const graft_conv_shape *shape, int pass) {
    op_plan *p = pass_plan(shape, pass);
    const char *name = NULL;
    if (p && dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success) name = NULL;
    return name;
}

int graft_conv_runs_winograd(const graft_conv_shape *shape, int pass) {
    op_plan *p = pass_plan(shape, pass);
    return p ? p->alg == dnnl_convolution_winograd : -1;
}

int graft_dnnl_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                     const float *b, long ldb, float beta, float *c, long ldc) {
    return dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == dnnl_success ? 0 : -1;
}

static void onednn_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc) {
    dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* Graft's Winograd multiplies with oneDNN's sgemm wherever oneDNN is linked, from before main. */
__attribute__((constructor)) static void use_onednn_sgemm(void) {
    graft_winograd_use_sgemm(onednn_sgemm);
}
