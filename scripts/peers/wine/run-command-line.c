/* Starts the Windows command line in the environment variable KEYFOB_RAW_COMMAND_LINE exactly as
 * written (CreateProcessW with that string), waits, and exits with its status. Wine's own
 * launcher re-quotes its arguments, so this is how scripts/peers/wine-smoke hands a process the
 * very command line an SDK would: aws-config's `cmd.exe /C "LINE"` (its raw_arg), or the
 * subprocess.list2cmdline() that botocore's Popen builds from _windows_shell_split(LINE). */
#include <windows.h>
#include <stdio.h>

int main(void)
{
    static wchar_t line[32768];
    DWORD n = GetEnvironmentVariableW(L"KEYFOB_RAW_COMMAND_LINE", line, 32768);
    if (n == 0 || n >= 32768) {
        fputs("run-command-line: KEYFOB_RAW_COMMAND_LINE is not set\n", stderr);
        return 125;
    }
    SetEnvironmentVariableW(L"KEYFOB_RAW_COMMAND_LINE", NULL);
    STARTUPINFOW si;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    SetHandleInformation(si.hStdInput, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    SetHandleInformation(si.hStdOutput, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    SetHandleInformation(si.hStdError, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "run-command-line: CreateProcess failed (error %lu)\n", GetLastError());
        return 126;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return (int)code;
}
