/* Refcounted 4 KiB page copies shared between snapshots, and the chunked
 * page tables that name them.
 *
 * Pages are kept by id: data[id] is the copy, refs[id] the number of table
 * chunks holding it. Ids 0 and 1 (PAGE_ID_ZERO, PAGE_ID_ZEROED) are the
 * all-zero page under two names and own nothing. Freed ids are reused, so the arrays stay as dense as
 * the set of live pages. A chunk is 512 ids (2 MiB of guest RAM); tables
 * share chunks until one of them changes a page there (copy on write), so
 * a snapshot that changed k pages costs k page copies plus at most k
 * chunks, whatever the RAM size. */
#include "page_store.h"

#include <glib.h>
#include <string.h>

struct PageStore {
    uint8_t **data;
    uint32_t *refs;
    uint32_t n_ids;         /* ids handed out so far (id 0 included) */
    uint32_t cap;
    uint32_t *free_ids;
    uint32_t n_free, free_cap;
    uint64_t live_pages;
    uint64_t live_chunks;
};

static const uint8_t zero_page[SNAP_PAGE_SIZE];

PageStore *page_store_new(void)
{
    PageStore *ps = g_new0(PageStore, 1);
    ps->cap = 1024;
    ps->data = g_new0(uint8_t *, ps->cap);
    ps->refs = g_new0(uint32_t, ps->cap);
    ps->n_ids = 2;          /* ids 0 and 1: the zero page */
    return ps;
}

void page_store_free(PageStore *ps)
{
    if (!ps)
        return;
    for (uint32_t i = 2; i < ps->n_ids; i++)
        g_free(ps->data[i]);
    g_free(ps->data);
    g_free(ps->refs);
    g_free(ps->free_ids);
    g_free(ps);
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (unsigned i = 0; i < SNAP_PAGE_SIZE / 8; i += 4)
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3])
            return false;
    return true;
}

static bool id_owns_nothing(PageId id)
{
    return id == PAGE_ID_ZERO || id == PAGE_ID_ZEROED;
}

static PageId store_copy(PageStore *ps, const uint8_t *data)
{
    uint32_t id;
    if (ps->n_free) {
        id = ps->free_ids[--ps->n_free];
    } else {
        if (ps->n_ids == ps->cap) {
            ps->cap *= 2;
            ps->data = g_renew(uint8_t *, ps->data, ps->cap);
            ps->refs = g_renew(uint32_t, ps->refs, ps->cap);
        }
        id = ps->n_ids++;
    }
    ps->data[id] = g_malloc(SNAP_PAGE_SIZE);
    memcpy(ps->data[id], data, SNAP_PAGE_SIZE);
    ps->refs[id] = 1;
    ps->live_pages++;
    return id;
}

PageId page_store_put(PageStore *ps, const uint8_t *data)
{
    return page_is_zero(data) ? PAGE_ID_ZERO : store_copy(ps, data);
}

PageId page_store_put_present(PageStore *ps, const uint8_t *data)
{
    return page_is_zero(data) ? PAGE_ID_ZEROED : store_copy(ps, data);
}

void page_store_ref(PageStore *ps, PageId id)
{
    if (!id_owns_nothing(id))
        ps->refs[id]++;
}

void page_store_unref(PageStore *ps, PageId id)
{
    if (id_owns_nothing(id))
        return;
    g_assert(ps->refs[id] > 0);
    if (--ps->refs[id])
        return;
    g_free(ps->data[id]);
    ps->data[id] = NULL;
    ps->live_pages--;
    if (ps->n_free == ps->free_cap) {
        ps->free_cap = ps->free_cap ? 2 * ps->free_cap : 1024;
        ps->free_ids = g_renew(uint32_t, ps->free_ids, ps->free_cap);
    }
    ps->free_ids[ps->n_free++] = id;
}

const uint8_t *page_store_data(const PageStore *ps, PageId id)
{
    return id_owns_nothing(id) ? zero_page : ps->data[id];
}

uint32_t page_store_refs(const PageStore *ps, PageId id)
{
    return id_owns_nothing(id) ? 0 : ps->refs[id];
}

uint64_t page_store_pages(const PageStore *ps)
{
    return ps->live_pages;
}

uint64_t page_store_bytes(const PageStore *ps)
{
    return ps->live_pages * SNAP_PAGE_SIZE + ps->live_chunks * sizeof(PageChunk) +
           (uint64_t)ps->cap * (sizeof(uint8_t *) + sizeof(uint32_t));
}

/* ---- page tables ---- */

static PageChunk *chunk_new(PageStore *ps)
{
    PageChunk *c = g_new0(PageChunk, 1);     /* every id PAGE_ID_ZERO */
    c->refs = 1;
    ps->live_chunks++;
    return c;
}

static void chunk_unref(PageStore *ps, PageChunk *c)
{
    if (--c->refs)
        return;
    for (unsigned i = 0; i < CHUNK_PAGES; i++)
        page_store_unref(ps, c->ids[i]);
    g_free(c);
    ps->live_chunks--;
}

PageTable *page_table_new(PageStore *ps, uint64_t npages)
{
    PageTable *t = g_new0(PageTable, 1);
    t->npages = npages;
    t->nchunks = (uint32_t)((npages + CHUNK_PAGES - 1) / CHUNK_PAGES);
    t->chunks = g_new(PageChunk *, t->nchunks ? t->nchunks : 1);
    /* all-zero chunks are shared too */
    PageChunk *zero = t->nchunks ? chunk_new(ps) : NULL;
    for (uint32_t i = 0; i < t->nchunks; i++)
        t->chunks[i] = zero;
    if (zero)
        zero->refs = t->nchunks;
    return t;
}

PageTable *page_table_copy(PageStore *ps, const PageTable *t)
{
    (void)ps;
    PageTable *c = g_new0(PageTable, 1);
    c->npages = t->npages;
    c->nchunks = t->nchunks;
    c->chunks = g_new(PageChunk *, t->nchunks ? t->nchunks : 1);
    for (uint32_t i = 0; i < t->nchunks; i++) {
        c->chunks[i] = t->chunks[i];
        c->chunks[i]->refs++;
    }
    return c;
}

void page_table_free(PageStore *ps, PageTable *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nchunks; i++)
        chunk_unref(ps, t->chunks[i]);
    g_free(t->chunks);
    g_free(t);
}

void page_table_set(PageStore *ps, PageTable *t, uint64_t page, PageId id)
{
    PageChunk **slot = &t->chunks[page / CHUNK_PAGES];
    PageChunk *c = *slot;
    if (c->refs > 1) {
        /* shared: this table gets its own copy of the chunk */
        PageChunk *n = chunk_new(ps);
        memcpy(n->ids, c->ids, sizeof n->ids);
        for (unsigned i = 0; i < CHUNK_PAGES; i++)
            page_store_ref(ps, n->ids[i]);
        c->refs--;
        *slot = c = n;
    }
    unsigned i = page % CHUNK_PAGES;
    PageId old = c->ids[i];
    c->ids[i] = id;
    page_store_unref(ps, old);
}
