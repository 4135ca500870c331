/* Image loading: ELF64 RISC-V executables (PT_LOAD segments placed by
 * physical address, as QEMU's load_elf does) or raw binaries at a given
 * address. Plain stdio and a hand-written ELF parser: the format is simple
 * and this keeps the error messages ours. */
#include "devices.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <string.h>

#define MIB ((uint64_t)1024 * 1024)

static FILE *open_image(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return f;
}

static bool read_at(FILE *f, uint64_t off, void *buf, uint64_t len)
{
    if (fseeko(f, (off_t)off, SEEK_SET) != 0)
        return false;
    return fread(buf, 1, len, f) == len;
}

/* Reads and checks the ELF header; false (without message) when the file
 * is not an ELF at all, so the caller can treat it as raw. A file that is
 * an ELF but not one we can run sets *bad and a message. */
static bool elf_header(FILE *f, const char *path, Elf64_Ehdr *eh, bool *bad,
                       char *err, size_t errlen)
{
    *bad = false;
    if (!read_at(f, 0, eh, sizeof *eh)) {
        /* Shorter than an ELF header: if it starts with the magic it is a
         * truncated ELF, otherwise a (small) raw image. */
        unsigned char magic[SELFMAG];
        if (read_at(f, 0, magic, SELFMAG) && !memcmp(magic, ELFMAG, SELFMAG)) {
            snprintf(err, errlen, "%s: truncated ELF header", path);
            *bad = true;
        }
        return false;
    }
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return false;
    *bad = true;
    if (eh->e_ident[EI_CLASS] != ELFCLASS64) {
        snprintf(err, errlen, "%s: not a 64-bit ELF (RV64 needs ELFCLASS64)", path);
        return false;
    }
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
        snprintf(err, errlen, "%s: not a little-endian ELF", path);
        return false;
    }
    if (eh->e_machine != EM_RISCV) {
        snprintf(err, errlen, "%s: not a RISC-V ELF (e_machine %u)", path, eh->e_machine);
        return false;
    }
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN) {
        snprintf(err, errlen, "%s: not an executable ELF (e_type %u)", path, eh->e_type);
        return false;
    }
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0) {
        snprintf(err, errlen, "%s: ELF has no usable program headers", path);
        return false;
    }
    *bad = false;
    return true;
}

static void fit_error(Machine *m, const char *path, const char *what, uint64_t addr,
                      uint64_t len, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s at 0x%" PRIx64 " (%" PRIu64 " KiB) does not fit in RAM (%" PRIu64 " MiB)",
             path, what, addr, (len + 1023) / 1024, m->ram_size / MIB);
}

static bool load_elf(Machine *m, FILE *f, const char *path, const Elf64_Ehdr *eh,
                     LoadedImage *img, char *err, size_t errlen)
{
    img->elf = true;
    img->entry = eh->e_entry;
    img->low = UINT64_MAX;
    img->end = 0;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        if (!read_at(f, eh->e_phoff + (uint64_t)i * sizeof ph, &ph, sizeof ph)) {
            snprintf(err, errlen, "%s: truncated ELF program header", path);
            return false;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (ph.p_filesz > ph.p_memsz) {
            snprintf(err, errlen, "%s: ELF segment %u has filesz > memsz", path, i);
            return false;
        }
        if (ph.p_paddr + ph.p_memsz < ph.p_paddr) {
            fit_error(m, path, "ELF segment", ph.p_paddr, ph.p_memsz, err, errlen);
            return false;
        }
        uint8_t *dst = machine_phys_ptr(m, ph.p_paddr, ph.p_memsz);
        if (!dst && ph.p_paddr < m->ram_base && ph.p_paddr + ph.p_memsz > m->ram_base &&
            m->ram_base - ph.p_paddr <= ph.p_filesz) {
            /* Linkers page-align the first segment downwards so it also
             * maps the ELF headers: with code at 0x80000000 it starts at
             * 0x7ffff000. Those header bytes below RAM are not part of the
             * program; QEMU drops them silently, and so do we. */
            uint64_t skip = m->ram_base - ph.p_paddr;
            ph.p_paddr += skip;
            ph.p_offset += skip;
            ph.p_filesz -= skip;
            ph.p_memsz -= skip;
            dst = machine_phys_ptr(m, ph.p_paddr, ph.p_memsz);
        }
        if (!dst) {
            fit_error(m, path, "ELF segment", ph.p_paddr, ph.p_memsz, err, errlen);
            return false;
        }
        if (ph.p_filesz && !read_at(f, ph.p_offset, dst, ph.p_filesz)) {
            snprintf(err, errlen, "%s: truncated ELF (segment %u)", path, i);
            return false;
        }
        /* .bss and the like: memory beyond the file data is zero. */
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        if (ph.p_paddr < img->low)
            img->low = ph.p_paddr;
        if (ph.p_paddr + ph.p_memsz > img->end)
            img->end = ph.p_paddr + ph.p_memsz;
    }
    if (img->low == UINT64_MAX) {
        snprintf(err, errlen, "%s: ELF has no loadable segment", path);
        return false;
    }
    return true;
}

static bool load_raw(Machine *m, FILE *f, const char *path, uint64_t addr,
                     LoadedImage *img, char *err, size_t errlen)
{
    if (fseeko(f, 0, SEEK_END) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    off_t size = ftello(f);
    if (size < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    uint8_t *dst = size ? machine_phys_ptr(m, addr, (uint64_t)size) : machine_phys_ptr(m, addr, 1);
    if (!dst) {
        snprintf(err, errlen, "%s: image (%" PRIu64 " MiB) does not fit in RAM (%" PRIu64 " MiB) at 0x%" PRIx64,
                 path, ((uint64_t)size + MIB - 1) / MIB, m->ram_size / MIB, addr);
        return false;
    }
    if (size && !read_at(f, 0, dst, (uint64_t)size)) {
        snprintf(err, errlen, "%s: read error", path);
        return false;
    }
    img->elf = false;
    img->entry = addr;
    img->low = addr;
    img->end = addr + (uint64_t)size;
    return true;
}

bool load_image_info(Machine *m, const char *path, uint64_t raw_addr, LoadedImage *img,
                     char *err, size_t errlen)
{
    FILE *f = open_image(path, err, errlen);
    if (!f)
        return false;
    /* A directory opens fine with fopen on Linux but cannot be read. */
    Elf64_Ehdr eh;
    bool bad, ok;
    if (elf_header(f, path, &eh, &bad, err, errlen))
        ok = load_elf(m, f, path, &eh, img, err, errlen);
    else if (bad)
        ok = false;
    else if (ferror(f)) {
        snprintf(err, errlen, "%s: %s", path, strerror(EISDIR));
        ok = false;
    } else
        ok = load_raw(m, f, path, raw_addr, img, err, errlen);
    fclose(f);
    return ok;
}

bool load_image(Machine *m, const char *path, uint64_t raw_addr, uint64_t *entry,
                uint64_t *end, char *err, size_t errlen)
{
    LoadedImage img;
    if (!load_image_info(m, path, raw_addr, &img, err, errlen))
        return false;
    if (entry)
        *entry = img.entry;
    if (end)
        *end = img.end;
    return true;
}

/* Looks tohost/fromhost up in the ELF's symbol table. Any problem (not an
 * ELF, stripped...) simply means "no HTIF". */
void load_find_htif(const char *path, uint64_t *tohost, uint64_t *fromhost)
{
    *tohost = 0;
    *fromhost = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    Elf64_Ehdr eh;
    if (!read_at(f, 0, &eh, sizeof eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shnum == 0)
        goto out;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh, strsh;
        if (!read_at(f, eh.e_shoff + (uint64_t)i * sizeof sh, &sh, sizeof sh))
            goto out;
        if (sh.sh_type != SHT_SYMTAB || sh.sh_entsize != sizeof(Elf64_Sym))
            continue;
        if (sh.sh_link >= eh.e_shnum ||
            !read_at(f, eh.e_shoff + (uint64_t)sh.sh_link * sizeof strsh, &strsh, sizeof strsh))
            goto out;
        /* Bound the string table so a corrupt file cannot make us allocate
         * absurd amounts. */
        if (strsh.sh_size == 0 || strsh.sh_size > 256 * MIB)
            goto out;
        char *strtab = g_malloc(strsh.sh_size + 1);
        if (!read_at(f, strsh.sh_offset, strtab, strsh.sh_size)) {
            g_free(strtab);
            goto out;
        }
        strtab[strsh.sh_size] = 0;
        uint64_t nsyms = sh.sh_size / sizeof(Elf64_Sym);
        for (uint64_t s = 0; s < nsyms; s++) {
            Elf64_Sym sym;
            if (!read_at(f, sh.sh_offset + s * sizeof sym, &sym, sizeof sym))
                break;
            if (sym.st_name >= strsh.sh_size)
                continue;
            const char *name = strtab + sym.st_name;
            if (!strcmp(name, "tohost"))
                *tohost = sym.st_value;
            else if (!strcmp(name, "fromhost"))
                *fromhost = sym.st_value;
        }
        g_free(strtab);
        break;
    }
out:
    fclose(f);
}
