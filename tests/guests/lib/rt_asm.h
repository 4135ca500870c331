/* Constants shared by the assembly and C parts of the guest runtime. */
#ifndef RT_ASM_H
#define RT_ASM_H

#define RT_MAX_HARTS     8
#define RT_STACK_SIZE    (16 * 1024)
#define RT_MTRAP_STACK   (8 * 1024)
#define RT_STRAP_STACK   (8 * 1024)
#define RT_HART_AREA     (RT_STACK_SIZE + RT_MTRAP_STACK + RT_STRAP_STACK)
#define RT_TLS_SIZE      1024

/* struct trap_frame layout (bytes) */
#define TF_REGS     0     /* x0..x31; the x0 slot holds the vector number */
#define TF_CAUSE    256
#define TF_EPC      264
#define TF_TVAL     272
#define TF_STATUS   280
#define TF_SIZE     288

/* a7 value of the ecall that leaves a lower mode (see rt_enter_mode) */
#define RT_ECALL_EXIT_MODE 0x7e57e417

#endif
