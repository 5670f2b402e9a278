/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's std on Windows gets its random bytes
 * from ProcessPrng, and without it keyfob.exe exits with status 53 before printing anything.
 * This shim answers with advapi32's RtlGenRandom (SystemFunction036), which Wine has.
 * Built by scripts/peers/wine-smoke with x86_64-w64-mingw32-gcc; see ../shared/PEERS.md. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
